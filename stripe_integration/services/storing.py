"""Storing a verified event: one statement, its merchant found on the way, duplicates recognised."""

from __future__ import annotations

from datetime import UTC, datetime

from ..models import StripeEvent
from . import sql


def store_event(payload: dict, *, raw: str | None = None) -> StripeEvent | None:
    """Stores a verified event; None for a duplicate (already stored, nothing done). The caller asks for its
    processing (drainers.request_drain_on_commit) when the event has a merchant.

    Idempotency key: `StripeEvent.stripe_id` (unique). Events of an unknown account are stored as IGNORED. `raw` is the
    JSON text `payload` was parsed from (the webhook's body): stored as it is rather than serialised again.
    """
    account = payload.get("account") or ""
    created = payload.get("created")
    event = StripeEvent(
        stripe_id=payload["id"][:255],
        type=str(payload["type"])[:100],
        account=account[:255],
        livemode=bool(payload.get("livemode")),
        payload=payload,
        stripe_created_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
    )
    if not sql.insert_event_unless_stored(event, raw=raw, unmatched=(StripeEvent.Status.IGNORED, UNKNOWN_ACCOUNT)):
        return None
    return event


UNKNOWN_ACCOUNT = "No merchant is connected to this Stripe account."
