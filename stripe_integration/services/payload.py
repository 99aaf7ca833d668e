"""Reading what Stripe events carry, with every field's shape checked.

The signature proves an event came from Stripe, not that it has the shape Afficone reads: a field can be an object
where an id was expected, a string where an amount was, null where an object was. Readers return each field in the
type Afficone uses (a missing or null field gives its empty value: Stripe sends null for anything unset) and raise
ValueError naming the field and what it held for any other shape, so such an event is marked failed with that reason
(processing.py) rather than attributed from a guess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from ..models import StripeEvent

# Unix timestamps Python can turn into a datetime: after 1970, before the year 10000.
LATEST_TIMESTAMP = 253402300799
# Stripe's amounts have at most 12 digits; more than this would not fit the commission's columns either.
AMOUNT_DIGITS = 15


def unexpected(path: str, expected: str, value: Any) -> ValueError:
    """`path: expected <expected>, got <what value is>`, e.g. "data.object.amount_total: expected an amount in minor
    units (an integer), got the string 'lots'"."""
    if value is None:
        got = "null"
    elif isinstance(value, bool):
        got = "true" if value else "false"
    elif isinstance(value, int | float):
        got = f"the number {value}"
    elif isinstance(value, str):
        got = f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    elif isinstance(value, dict):
        got = "an object without an id" if expected.startswith("a Stripe id") else "an object"
    elif isinstance(value, list):
        got = "a list"
    else:
        got = type(value).__name__
    return ValueError(f"{path}: expected {expected}, got {got}")


def timestamp(value: Any, path: str) -> datetime | None:
    """A Unix timestamp as an aware datetime; None for null (or 0, which Stripe never sends for a real moment)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LATEST_TIMESTAMP:
        raise unexpected(path, "a Unix timestamp (a positive integer)", value)
    return datetime.fromtimestamp(value, UTC) if value else None


class StripeData:
    """A JSON object of an event (`path` says where: "data.object", "data.object.customer_details"), read field by
    field."""

    __slots__ = ("data", "path")

    def __init__(self, data: dict[str, Any], path: str):
        self.data = data
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def string(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise unexpected(self.where(key), "a string", value)
        return value

    def id(self, key: str) -> str:
        """An id field, which Stripe sends as the id itself or, expanded, as the object it names."""
        value = self.data.get(key)
        if value is None:
            return ""
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            return value["id"]
        if not isinstance(value, str):
            raise unexpected(self.where(key), "a Stripe id (a string) or an object with one", value)
        return value

    def amount(self, key: str) -> int:
        """An amount in the currency's minor unit."""
        value = self.data.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 10**AMOUNT_DIGITS:
            raise unexpected(
                self.where(key), f"an amount in minor units (an integer of at most {AMOUNT_DIGITS} digits)", value
            )
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise unexpected(self.where(key), "true or false", value)
        return value

    def timestamp(self, key: str) -> datetime | None:
        return timestamp(self.data.get(key), self.where(key))

    def object(self, key: str) -> StripeData:
        """A nested object (an empty one for null)."""
        value = self.data.get(key)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise unexpected(self.where(key), "an object", value)
        return StripeData(value, self.where(key))

    def objects(self, key: str) -> list[StripeData]:
        """A list of objects (an empty one for null)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise unexpected(self.where(key), "a list of objects", value)
        items = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise unexpected(f"{self.where(key)}[{index}]", "an object", item)
            items.append(StripeData(item, f"{self.where(key)}[{index}]"))
        return items


def event_object(payload: dict[str, Any]) -> StripeData:
    """The event's `data.object`, once the envelope's fields a handler relies on have the shapes Stripe sends."""
    envelope = StripeData(payload, "")
    envelope.flag("livemode")
    envelope.timestamp("created")
    obj = envelope.object("data").data.get("object")
    if not isinstance(obj, dict):
        raise unexpected("data.object", "an object", obj)
    return StripeData(obj, "data.object")


def event_time(event: StripeEvent) -> datetime:
    return event.stripe_created_at or event.received_at or timezone.now()


def reference(obj: StripeData) -> str:
    """The referral id or affiliate code in `metadata._afficoneRef`."""
    return obj.object("metadata").string("_afficoneRef").strip()


def invoice_subscription(invoice: StripeData) -> str:
    """Both shapes: `parent.subscription_details.subscription` (2025-03-31 and later) and top-level `subscription`."""
    details = invoice.object("parent").object("subscription_details")
    return details.id("subscription") or invoice.id("subscription")


def invoice_tax(invoice: StripeData) -> int:
    """Tax on an invoice: `total_taxes` (2025-03-31 and later), else `total_tax_amounts` or `tax` (older versions)."""
    # Inclusive taxes are inside `amount_paid` too, so every tax amount comes off.
    for field in ("total_taxes", "total_tax_amounts"):
        items = invoice.objects(field)
        if items:
            return sum(item.amount("amount") for item in items)
    return invoice.amount("tax")


def checkout_amount_excluding_tax(session: StripeData) -> int:
    """What the customer paid, minus tax (discounts already applied, shipping kept)."""
    return session.amount("amount_total") - session.object("total_details").amount("amount_tax")
