"""What crosses the fake's HTTP boundary: Stripe's paths, a recorded request, and Stripe's error shapes."""

from __future__ import annotations

from dataclasses import dataclass

# Stripe's API namespaces: "/v1/checkout/sessions" is a list, "/v1/customers/cus_1" an object.
NAMESPACES = frozenset(
    {
        "apps",
        "billing",
        "billing_portal",
        "checkout",
        "climate",
        "entitlements",
        "financial_connections",
        "forwarding",
        "identity",
        "issuing",
        "radar",
        "reporting",
        "sigma",
        "tax",
        "terminal",
        "test_helpers",
        "treasury",
    }
)


def plural_path(object_type: str) -> str:
    """Stripe's collection path for an object type: "checkout.session" -> "checkout/sessions"."""
    *namespace, name = object_type.split(".")
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy")):
        plural = name[:-1] + "ies"
    elif name.endswith(("s", "x")):
        plural = name + "es"
    else:
        plural = name + "s"
    return "/".join([*namespace, plural])


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def stripe_account(self) -> str | None:
        return self.headers.get("stripe-account")

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


@dataclass
class _Code:
    account_id: str
    scope: str
    used: bool = False


@dataclass
class _Failure:
    status: int
    body: dict
    remaining: int
    headers: dict
    after: int = 0  # requests answered normally before the failures start


class StripeHTTPError(Exception):
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body


def _api_error(
    status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> StripeHTTPError:
    error = {"type": type, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return StripeHTTPError(status, {"error": error})


def _oauth_error(status: int, error: str, description: str) -> StripeHTTPError:
    return StripeHTTPError(status, {"error": error, "error_description": description})
