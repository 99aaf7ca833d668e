"""Events: what happened, rendered as the REST API shows it, written to the outbox with a delivery per endpoint.

`record_events` runs in the domain's on-commit step (webhooks/receivers.py):
it reads the committed rows, renders each with the REST API's output
serializer, and in one transaction writes the event and a delivery for every
enabled endpoint of the merchant subscribed to its type; the deliveries are
enqueued once that commits. A merchant with no such endpoint costs one query
and writes nothing: which event types each merchant's enabled endpoints take is
kept in the cache (webhooks/subscriptions.py, Redis in production) and forgotten on
every change to its endpoints, so the attribution path pays no query for a
merchant that has none. The body is
`{"id": "evt_...", "type": ..., "created": <ISO 8601>, "data": {"object": <the API representation>}}`,
fixed when the event is written: every attempt sends the same bytes.

Idempotency: an event that would repeat the last one written about the same
object (same representation, and the same type or an update) is not written,
so a replayed batch of clicks or two services touching one commission in one
transaction make one event.
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from django.db import models, transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.utils.encoders import JSONEncoder

from affiliates.models import Affiliate, Commission, Lead, Payout, Referral

# The REST API's output serializers, imported here and nowhere else in webhooks/: an event's object is exactly what
# the API answers for it.
from api.serializers import (
    AffiliateOutputSerializer,
    CommissionOutputSerializer,
    LeadOutputSerializer,
    PayoutOutputSerializer,
    ReferralOutputSerializer,
)

from .models import TEST_EVENT_TYPE, EventType, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .serializers import WebhookEndpointOutputSerializer
from .subscriptions import subscribed_types
from .tasks import deliver_webhook_task


@dataclass(frozen=True)
class Source:
    """Where an event type's objects come from, and how the API renders them."""

    rows: Callable[[], models.QuerySet]
    serializer: type[serializers.Serializer]


def _payouts() -> models.QuerySet:
    return Payout.objects.select_related("affiliate", "batch").prefetch_related(
        models.Prefetch("commissions", queryset=Commission.objects.only("public_id", "payout_id").order_by("pk"))
    )


def _affiliates() -> models.QuerySet:
    return Affiliate.objects.select_related("program", "merchant", "parent").prefetch_related("promotion_codes")


def _commissions() -> models.QuerySet:
    return Commission.objects.select_related("affiliate", "referral", "payout", "program")


SOURCES: dict[str, Source] = {
    EventType.AFFILIATE_CREATED: Source(_affiliates, AffiliateOutputSerializer),
    EventType.AFFILIATE_UPDATED: Source(_affiliates, AffiliateOutputSerializer),
    EventType.REFERRAL_CREATED: Source(
        lambda: Referral.objects.select_related("affiliate", "backfill"), ReferralOutputSerializer
    ),
    EventType.COMMISSION_CREATED: Source(_commissions, CommissionOutputSerializer),
    EventType.COMMISSION_UPDATED: Source(_commissions, CommissionOutputSerializer),
    EventType.PAYOUT_CREATED: Source(_payouts, PayoutOutputSerializer),
    EventType.PAYOUT_PAID: Source(_payouts, PayoutOutputSerializer),
    EventType.LEAD_CREATED: Source(lambda: Lead.objects.select_related("referral__affiliate"), LeadOutputSerializer),
}


def subscribed_endpoints(event_type: str, merchant_ids: Iterable[int]) -> dict[int, list[WebhookEndpoint]]:
    """The enabled endpoints subscribed to `event_type`, per merchant (filtered here: SQLite has no JSON contains)."""
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(
        merchant_id__in=list(merchant_ids), status=WebhookEndpoint.Status.ENABLED
    ).order_by("pk"):
        if event_type in endpoint.events:
            endpoints.setdefault(endpoint.merchant_id, []).append(endpoint)
    return endpoints


def record_events(event_type: str, objects: dict[int, list[int]]) -> list[WebhookEvent]:
    """Events of `event_type` for the rows named by `objects` (merchant id → primary keys), as they are now."""
    merchants = [merchant_id for merchant_id, types in subscribed_types(objects).items() if event_type in types]
    if not merchants:
        return []
    endpoints = subscribed_endpoints(event_type, merchants)
    if not endpoints:
        return []
    source = SOURCES[event_type]
    pks = [pk for merchant_id in endpoints for pk in objects[merchant_id]]
    rows = source.rows().filter(merchant_id__in=list(endpoints), pk__in=pks).order_by("pk")
    written = []
    for row in rows:
        event = write_event(row.merchant_id, event_type, source.serializer(row).data, endpoints[row.merchant_id])
        if event is not None:
            written.append(event)
    return written


def _canonical(obj: object) -> str:
    return json.dumps(obj, cls=JSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@transaction.atomic
def write_event(merchant_id: int, event_type: str, obj: dict, endpoints: list[WebhookEndpoint]) -> WebhookEvent | None:
    """The event and its deliveries, enqueued after the commit; None when it would repeat the last one."""
    object_id = f"{event_type.split('.')[0]}:{obj['id']}"
    digest = hashlib.sha256(_canonical(obj).encode()).hexdigest()
    last = (
        WebhookEvent.objects.filter(merchant_id=merchant_id, object_id=object_id)
        .order_by("-created_at", "-pk")
        .values_list("type", "object_digest")
        .first()
    )
    if last is not None and last[1] == digest and (last[0] == event_type or event_type.endswith(".updated")):
        return None
    event = _save_event(merchant_id, event_type, object_id, digest, obj)
    for endpoint in endpoints:
        _add_delivery(event, endpoint)
    return event


@transaction.atomic
def write_test_event(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` event about the endpoint itself (its API representation) and its one delivery, to that
    endpoint only, enqueued after the commit. Never skipped as a repeat: each press of the button sends one."""
    obj = WebhookEndpointOutputSerializer(endpoint).data
    object_id = f"webhook_endpoint:{obj['id']}"
    digest = hashlib.sha256(_canonical(obj).encode()).hexdigest()
    return _add_delivery(_save_event(endpoint.merchant_id, TEST_EVENT_TYPE, object_id, digest, obj), endpoint)


def _save_event(merchant_id: int, event_type: str, object_id: str, digest: str, obj: dict) -> WebhookEvent:
    now = timezone.now()
    event = WebhookEvent(
        merchant_id=merchant_id, type=event_type, object_id=object_id, object_digest=digest, created_at=now
    )
    payload = {
        "id": event.event_id,
        "type": event_type,
        "created": serializers.DateTimeField().to_representation(now),
        "data": {"object": obj},
    }
    event.body = json.dumps(payload, cls=JSONEncoder, separators=(",", ":"), ensure_ascii=False)
    event.save()
    return event


def _add_delivery(event: WebhookEvent, endpoint: WebhookEndpoint) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        merchant_id=event.merchant_id,
        event=event,
        endpoint=endpoint,
        object_id=event.object_id,
        next_attempt_at=event.created_at,
    )
    # If the broker cannot take it, the delivery is due in the database and the sweep sends it.
    transaction.on_commit(partial(deliver_webhook_task.delay, delivery.pk), robust=True)
    return delivery
