"""`{% stripe_sync_panel merchant back %}`: the reconciliation panel of the Stripe connection card, wherever the card
is shown (Settings -> Stripe, the Stripe page, onboarding), without each page's view reading it."""

from django import template

from tenants.models import Merchant

from ..reconciliation import WINDOW
from ..selectors import stripe_sync_status

register = template.Library()


@register.inclusion_tag("stripe_integration/_sync.html", takes_context=True)
def stripe_sync_panel(context: template.Context, merchant: Merchant, back: str) -> dict:
    return {
        **stripe_sync_status(merchant),
        "merchant": merchant,
        "back": back,
        "window_days": WINDOW.days,
        "current_membership": context.get("current_membership"),
        "csrf_token": context.get("csrf_token"),
    }
