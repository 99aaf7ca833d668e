"""The domain's signals (affiliates/signals.py), turned into events for the merchant's endpoints.

Each arrives after the domain's commit with `objects` (merchant id → primary
keys); `record_events` renders the rows and writes the outbox in that same
on-commit step. Connected once, in WebhooksConfig.ready().

Saving or deleting an endpoint, and creating a merchant (an id a rebuilt
database hands out again), forget the cached subscriptions of that merchant.
"""

from functools import partial

from django.db.models.signals import post_delete, post_save

from affiliates import signals
from tenants.models import Merchant

from .events import record_events
from .models import EventType, WebhookEndpoint
from .subscriptions import forget_subscriptions

EVENTS = {
    signals.affiliate_created: EventType.AFFILIATE_CREATED,
    signals.affiliate_updated: EventType.AFFILIATE_UPDATED,
    signals.referral_created: EventType.REFERRAL_CREATED,
    signals.lead_created: EventType.LEAD_CREATED,
    signals.commission_created: EventType.COMMISSION_CREATED,
    signals.commission_updated: EventType.COMMISSION_UPDATED,
    signals.payout_created: EventType.PAYOUT_CREATED,
    signals.payout_paid: EventType.PAYOUT_PAID,
}


def on_domain_change(event_type: str, sender, objects: dict[int, list[int]], **kwargs) -> None:
    record_events(event_type, objects)


def on_endpoint_change(sender, instance: WebhookEndpoint, **kwargs) -> None:
    forget_subscriptions(instance.merchant_id)


def on_merchant_saved(sender, instance: Merchant, created: bool, **kwargs) -> None:
    if created:
        forget_subscriptions(instance.pk)


def connect() -> None:
    post_save.connect(on_endpoint_change, sender=WebhookEndpoint, dispatch_uid="webhooks:endpoint-saved")
    post_delete.connect(on_endpoint_change, sender=WebhookEndpoint, dispatch_uid="webhooks:endpoint-deleted")
    post_save.connect(on_merchant_saved, sender=Merchant, dispatch_uid="webhooks:merchant-created")
    for signal, event_type in EVENTS.items():
        signal.connect(partial(on_domain_change, event_type), weak=False, dispatch_uid=f"webhooks:{event_type}")
