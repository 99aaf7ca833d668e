"""Asking the merchant's Stripe account on a merchant's behalf (assigning a code, binding a customer): the options
every such call carries, and the one error the dashboard and the API show when it cannot be done."""

from __future__ import annotations

import stripe

from affiliates.services import AffiliateError
from tenants.models import Merchant


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
