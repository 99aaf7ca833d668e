"""The domain's signals (affiliates/signals.py), turned into events for the merchant's endpoints.

Each arrives after the domain's commit with `objects` (merchant id → primary
keys); `record_events` renders the rows and writes the outbox in that same
on-commit step. Connected once, in WebhooksConfig.ready().
"""

from functools import partial

from affiliates import signals

from .events import record_events
from .models import EventType

EVENTS = {
    signals.affiliate_created: EventType.AFFILIATE_CREATED,
    signals.affiliate_updated: EventType.AFFILIATE_UPDATED,
    signals.referral_created: EventType.REFERRAL_CREATED,
    signals.commission_created: EventType.COMMISSION_CREATED,
    signals.commission_updated: EventType.COMMISSION_UPDATED,
    signals.payout_created: EventType.PAYOUT_CREATED,
    signals.payout_paid: EventType.PAYOUT_PAID,
}


def on_domain_change(event_type: str, sender, objects: dict[int, list[int]], **kwargs) -> None:
    record_events(event_type, objects)


def connect() -> None:
    for signal, event_type in EVENTS.items():
        signal.connect(partial(on_domain_change, event_type), weak=False, dispatch_uid=f"webhooks:{event_type}")
