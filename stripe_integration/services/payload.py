"""Reading what Stripe objects carry."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from ..models import StripeEvent


def _id(value) -> str:
    """An id field that may be a plain id or an expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _timestamp(value, default: datetime | None = None) -> datetime:
    if isinstance(value, int) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return default or timezone.now()


def _event_time(event: StripeEvent) -> datetime:
    return event.stripe_created_at or event.received_at or timezone.now()


def _reference(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("_afficoneRef") or "").strip()


def invoice_subscription(invoice: dict) -> str:
    """Both shapes: `parent.subscription_details.subscription` (2025-03-31 and later) and top-level `subscription`."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def invoice_tax(invoice: dict) -> int:
    """Tax on an invoice: `total_taxes` (2025-03-31 and later), else `total_tax_amounts` or `tax` (older versions)."""
    # Inclusive taxes are inside `amount_paid` too, so every tax amount comes off.
    for field in ("total_taxes", "total_tax_amounts"):
        items = invoice.get(field)
        if items:
            return sum(int(item.get("amount") or 0) for item in items)
    return int(invoice.get("tax") or 0)


def checkout_amount_excluding_tax(session: dict) -> int:
    """What the customer paid, minus tax (discounts already applied, shipping kept)."""
    tax = int(((session.get("total_details") or {}).get("amount_tax")) or 0)
    return int(session.get("amount_total") or 0) - tax
