"""Deliveries on the real stack: a real Celery worker on the Redis broker sends them, retries them and sweeps them."""

import json
from datetime import timedelta

import pytest
import redis
from django.db.models import F
from django.utils import timezone

from affiliates.models import Commission
from affiliates.services import create_affiliate
from tests.conftest import requires_real_stack, start_celery_worker, stop_celery_worker, wait_for
from tests.factories import ReferralFactory
from tests.stripe_events import checkout_session, make_event, post_event
from webhooks.delivery import LEASE, RETRY_DELAYS, due_deliveries
from webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEvent
from webhooks.tasks import sweep_webhook_deliveries_task

from .conftest import endpoint_for

pytestmark = pytest.mark.worker


def test_commission_from_a_signed_stripe_webhook_is_delivered_by_the_worker(
    client, merchant, affiliate, receiver, celery_worker
):
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_CREATED)
    referral = ReferralFactory(affiliate=affiliate)
    session = checkout_session(client_reference_id=referral.rid)
    response = post_event(client, make_event("checkout.session.completed", session, account=merchant.stripe_account_id))
    assert response.status_code == 200

    [request] = receiver.wait_for(1)
    event = request.verified(endpoint.secret)
    commission = Commission.objects.get(merchant=merchant, source_id=session["payment_intent"])
    obj = event["data"]["object"]
    assert event["type"] == "commission.created"
    assert (obj["id"], obj["amount"], obj["currency"], obj["referral"]) == (
        str(commission.public_id),
        2000,
        "usd",
        referral.rid,
    )
    assert obj["source"] == {"type": "payment_intent", "id": session["payment_intent"]}
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(endpoint=endpoint, status="succeeded").first())
    assert delivery.attempts == 1


def test_a_500_is_retried_after_the_back_off_and_every_answer_is_logged(merchant, receiver, celery_worker):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer((500, "database is down"))
    create_affiliate(merchant, email="maya@example.com", code="maya")

    first, second = receiver.wait_for(2, timeout=30)
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(endpoint=endpoint, status="succeeded").first())
    failed, succeeded = WebhookAttempt.objects.filter(delivery=delivery).order_by("number")
    assert (failed.number, failed.response_status, failed.response_body) == (1, 500, "database is down")
    assert failed.next_attempt_at - failed.attempted_at == RETRY_DELAYS[0] == timedelta(seconds=5)
    assert (succeeded.number, succeeded.response_status, succeeded.next_attempt_at) == (2, 200, None)
    assert succeeded.attempted_at >= failed.next_attempt_at
    assert second.at - first.at >= 4.9
    assert (delivery.attempts, delivery.succeeded_at) == (2, succeeded.attempted_at)
    # The same message both times (webhook-id), signed anew for each attempt.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.event.event_id
    assert first.body == second.body
    for request in (first, second):
        request.verified(endpoint.secret)


def test_an_update_waits_for_the_retry_of_the_creation_then_both_arrive_in_order(
    merchant, affiliate, receiver, api, celery_worker
):
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_CREATED, EventType.COMMISSION_UPDATED)
    receiver.answer((500, "not yet"))
    sale = {"id": "order-1", "referral": affiliate.code, "amount": 10000, "currency": "usd"}
    assert api.post("/api/v1/conversions", sale).status_code == 201
    receiver.wait_for(1)
    assert api.post("/api/v1/conversions/order-1/refund", {"amount": 2500}).status_code == 200
    created, updated = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("pk")

    first, retried, later = receiver.wait_for(3, timeout=30)
    assert [first.event["type"], retried.event["type"], later.event["type"]] == [
        "commission.created",
        "commission.created",
        "commission.updated",
    ]
    assert first.headers["webhook-id"] == retried.headers["webhook-id"] == created.event.event_id
    assert later.verified(endpoint.secret)["id"] == updated.event.event_id
    assert retried.at - first.at >= 4.9 and later.at >= retried.at  # the update waited for the creation's retry
    wait_for(lambda: WebhookDelivery.objects.filter(endpoint=endpoint, status="succeeded").count() == 2)
    updated.refresh_from_db()
    assert updated.attempts == 1  # never tried while the creation was pending
    assert len(receiver.requests) == 3


def _stored_but_never_sent(merchant, endpoint, **delivery_fields) -> WebhookDelivery:
    """A delivery as the outbox writes it, whose task never ran (the broker was down, or its worker died)."""
    now = timezone.now()
    event = WebhookEvent.objects.create(
        merchant=merchant,
        type="affiliate.created",
        object_id="affiliate:x",
        object_digest="0" * 64,
        created_at=now,
        body=json.dumps({"id": "evt_swept", "type": "affiliate.created", "created": now.isoformat(), "data": {}}),
    )
    fields = {"next_attempt_at": now - timedelta(minutes=2), **delivery_fields}
    return WebhookDelivery.objects.create(merchant=merchant, event=event, endpoint=endpoint, **fields)


def test_the_beat_sweep_sends_what_a_lost_task_or_a_dead_worker_left(merchant, receiver, celery_worker):
    endpoint = endpoint_for(merchant, receiver)
    lost = _stored_but_never_sent(merchant, endpoint)
    dead_worker = _stored_but_never_sent(merchant, endpoint, locked_until=timezone.now() - timedelta(seconds=1))
    in_progress = _stored_but_never_sent(merchant, endpoint, locked_until=timezone.now() + timedelta(minutes=5))
    later = _stored_but_never_sent(merchant, endpoint, next_attempt_at=timezone.now() + timedelta(hours=2))

    assert sweep_webhook_deliveries_task() == 2
    receiver.wait_for(2)
    for delivery in (lost, dead_worker):
        wait_for(lambda d=delivery: WebhookDelivery.objects.get(pk=d.pk).status == "succeeded")
    assert WebhookDelivery.objects.get(pk=in_progress.pk).attempts == 0  # its worker is still on it
    assert WebhookDelivery.objects.get(pk=later.pk).attempts == 0
    assert len(receiver.requests) == 2
    assert sweep_webhook_deliveries_task() == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_loses_nothing_the_sweep_sends_it_once_the_lease_is_over(
    merchant, receiver, settings
):
    requires_real_stack()
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.delay = 60  # a slow endpoint: the worker is waiting for its answer when it dies
    first = start_celery_worker(settings)
    try:
        create_affiliate(merchant, email="maya@example.com", code="maya")
        [cut_short] = receiver.wait_for(1)
    finally:
        stop_celery_worker(first, kill=True)  # kill -9 mid-POST, as a crash or the OOM killer would

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert delivery.locked_until > timezone.now()  # the dead worker's lease: nobody else sends it meanwhile
    assert not WebhookAttempt.objects.filter(delivery=delivery).exists()
    assert due_deliveries() == []

    # LEASE later (longer than an attempt may take: its worker is gone), told by moving the delivery's clock back.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=F("created_at") - LEASE,
        next_attempt_at=F("next_attempt_at") - LEASE,
        locked_until=F("locked_until") - LEASE - timedelta(seconds=1),
    )
    assert due_deliveries() == [delivery.pk]
    receiver.delay = 0
    second = start_celery_worker(settings)
    try:
        sweep_webhook_deliveries_task.delay()  # as beat sends it, to the new worker
        _, resent = receiver.wait_for(2)
        delivery = wait_for(lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="succeeded").first())
    finally:
        stop_celery_worker(second)
    assert resent.headers["webhook-id"] == cut_short.headers["webhook-id"] == delivery.event.event_id
    assert resent.body == cut_short.body
    resent.verified(endpoint.secret)
    assert delivery.attempts == 1  # the killed attempt had no answer to log; the sweep's got a 200
    assert WebhookAttempt.objects.get(delivery=delivery).response_status == 200
    assert len(receiver.requests) == 2
