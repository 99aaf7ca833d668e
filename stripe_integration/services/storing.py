"""Storing a verified event: one statement, its merchant found on the way, duplicates recognised."""

from __future__ import annotations

from typing import Any

from ..models import StripeEvent
from . import sql
from .payload import timestamp, unexpected


def store_event(payload: dict[str, Any], *, raw: str | None = None) -> StripeEvent | None:
    """Stores a verified event; None for a duplicate (already stored, nothing done). The caller asks for its
    processing (drainers.request_drain_on_commit) when the event has a merchant.

    Idempotency key: `StripeEvent.stripe_id` (unique). Events of an unknown account are stored as IGNORED; those whose
    `account` is not a string, as FAILED with the reason. `raw` is the
    JSON text `payload` was parsed from (the webhook's body): stored as it is rather than serialised again.
    """
    account = payload.get("account") or ""
    unmatched = (StripeEvent.Status.IGNORED, UNKNOWN_ACCOUNT)
    if not isinstance(account, str):  # no merchant can be told from it: stored as failed, never processed
        unmatched = (StripeEvent.Status.FAILED, f"ValueError: {unexpected('account', 'a Stripe account id', account)}")
        account = ""
    try:
        created = timestamp(payload.get("created"), "created")
    except ValueError:
        created = None  # processing fails the event, naming the field (payload.event_object)
    event = StripeEvent(
        stripe_id=payload["id"][:255],
        type=str(payload["type"])[:100],
        account=account[:255],
        livemode=payload.get("livemode") is True,
        payload=payload,
        stripe_created_at=created,
    )
    if not sql.insert_event_unless_stored(event, raw=raw, unmatched=unmatched):
        return None
    return event


UNKNOWN_ACCOUNT = "No merchant is connected to this Stripe account."
