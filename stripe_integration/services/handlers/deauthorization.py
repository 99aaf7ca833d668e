"""The merchant disconnected Afficone in Stripe: account.application.deauthorized."""

from __future__ import annotations

from tenants.models import Merchant

from ...connect import mark_stripe_disconnected
from ...models import StripeEvent
from ..payload import StripeData, event_time
from .registry import handles


@handles("account.application.deauthorized", when_disconnected=True)
def handle_deauthorized(merchant: Merchant, application: StripeData, event: StripeEvent) -> None:
    """The merchant disconnected Afficone in Stripe: later events are stored but not attributed."""
    mark_stripe_disconnected(merchant, occurred_at=event_time(event))
