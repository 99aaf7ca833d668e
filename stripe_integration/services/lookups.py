"""Asking the merchant's Stripe account on a merchant's behalf (assigning a code, binding a customer, reading what an
event names only by id): the options every such call carries, the one read of an object by id (`retrieve`, asked of
Stripe once per event however many rules look at it), and the one error the dashboard and the API show when it
cannot be done."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import stripe

from affiliates.services import AffiliateError
from tenants.models import Merchant

from ..client import stripe_client


class AttributionError(AffiliateError):
    """A promotion code or customer that cannot be assigned or bound; nothing was changed. `status` is the HTTP status
    the API answers (400: Stripe knows no such thing; 409: it is taken, or Stripe is not connected; 502: Stripe did not
    answer); `code` and `field` go into the API's error."""

    def __init__(self, message: str, *, code: str, field: str | None, status: int = 409):
        super().__init__(message)
        self.code = code
        self.status = status
        self.field = field


def stripe_options(merchant: Merchant) -> stripe.RequestOptions:
    """Per-request options for a call about the merchant's connected account (the Stripe-Account header)."""
    return {"stripe_account": merchant.stripe_account_id}


# While an event is processed (services/processing.py): what `retrieve` read, by (account, plural, id).
_reads: ContextVar[dict | None] = ContextVar("stripe_reads", default=None)


@contextmanager
def reads_once() -> Iterator[None]:
    """Within it, `retrieve` asks Stripe for an object once: the exclusions and the lead matching of one event read
    the same customer."""
    token = _reads.set({})
    try:
        yield
    finally:
        _reads.reset(token)


def retrieve(merchant: Merchant, plural: str, object_id: str) -> dict | None:
    """`GET /v1/<plural>/<id>` on the merchant's account (`plural` as the client names it: "customers"); None when
    Stripe answers 404. Other Stripe errors propagate (an event is then retried)."""
    memo = _reads.get()
    key = (merchant.stripe_account_id, plural, object_id)
    if memo is not None and key in memo:
        return memo[key]
    try:
        found: dict | None = (
            getattr(stripe_client().v1, plural).retrieve(object_id, options=stripe_options(merchant)).to_dict()
        )
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise
        found = None
    if memo is not None:
        memo[key] = found
    return found


def require_connected(merchant: Merchant, *, field: str | None) -> None:
    if not merchant.stripe_account_id or merchant.stripe_status != Merchant.StripeStatus.CONNECTED:
        raise AttributionError(
            "Connect your Stripe account first: Afficone reads promotion codes and customers from it.",
            code="stripe_not_connected",
            field=field,
        )


def stripe_unavailable(exc: stripe.StripeError, *, field: str | None) -> AttributionError:
    return AttributionError(
        f"Stripe could not be asked just now ({exc.user_message or type(exc).__name__}); nothing was changed. "
        "Please try again in a moment.",
        code="stripe_unavailable",
        field=field,
        status=502,
    )
