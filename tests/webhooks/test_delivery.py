"""One delivery's life: signing, the retry schedule and its end, the claim, timeouts, rotation, disabled endpoints."""

import socket
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from affiliates.services import create_affiliate
from webhooks.delivery import RETRY_DELAYS, RETRY_WINDOW, claim_delivery, due_deliveries, retry_delay
from webhooks.models import EventType, WebhookDelivery
from webhooks.services import rotate_secret, update_endpoint
from webhooks.tasks import deliver_webhook_task

from .conftest import endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)


def _deliver_one(merchant, receiver, *answers, **endpoint_fields):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(*answers)
    create_affiliate(merchant, email="maya@example.com", code="maya")
    return endpoint, WebhookDelivery.objects.select_related("event").get(endpoint=endpoint)


def test_the_signature_verifies_with_standardwebhooks_and_not_with_another_secret(merchant, receiver):
    endpoint, delivery = _deliver_one(merchant, receiver)
    [request] = receiver.requests
    assert Webhook(endpoint.secret).verify(request.body, request.headers)["id"] == delivery.event.event_id
    assert endpoint.secret.startswith("whsec_")
    assert request.body == delivery.event.body.encode()
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request.body.replace(b"maya", b"mala"), request.headers)


def test_after_a_rotation_both_secrets_verify_for_a_day_then_only_the_new(merchant, receiver):
    endpoint, _ = _deliver_one(merchant, receiver)
    old = endpoint.secret
    endpoint = rotate_secret(endpoint)
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    create_affiliate(merchant, email="sam@example.com", code="sam")
    rotated = receiver.requests[-1]
    assert len(rotated.headers["webhook-signature"].split(" ")) == 2
    rotated.verified(endpoint.secret)
    rotated.verified(old)

    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    endpoint.save()
    create_affiliate(merchant, email="kim@example.com", code="kim")
    later = receiver.requests[-1]
    later.verified(endpoint.secret)
    with pytest.raises(WebhookVerificationError):
        later.verified(old)


def test_the_retry_schedule_backs_off_to_ten_hours():
    delays = [retry_delay(n) for n in range(1, 10)]
    assert delays[:6] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
    ]
    assert delays[6:] == [timedelta(hours=10)] * 3
    # Within three days: the first attempt and 11 retries, the last 67 h 35 min 5 s after the first.
    total, attempts = timedelta(0), 1
    while total + retry_delay(attempts) <= RETRY_WINDOW:
        total += retry_delay(attempts)
        attempts += 1
    assert (attempts, total) == (12, timedelta(hours=67, minutes=35, seconds=5))
    assert len(RETRY_DELAYS) == 6


def test_a_failure_is_due_again_after_its_delay_and_fails_for_good_after_three_days(merchant, receiver):
    endpoint, delivery = _deliver_one(merchant, receiver, (503, "busy"))
    delivery.refresh_from_db()
    first = delivery.attempt_log.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == first.next_attempt_at == first.attempted_at + timedelta(seconds=5)
    deliver_webhook_task.delay(delivery.pk)
    assert len(receiver.requests) == 1  # not due yet: nothing sent

    # Nearly three days on, the next retry (5 min) would fall past the window: this attempt is the last.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - RETRY_WINDOW + timedelta(minutes=1), next_attempt_at=timezone.now()
    )
    receiver.answer((500, "still down"))
    deliver_webhook_task.delay(delivery.pk)
    delivery.refresh_from_db()
    last = delivery.attempt_log.order_by("number").last()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)
    assert (last.response_status, last.response_body, last.next_attempt_at) == (500, "still down", None)
    deliver_webhook_task.delay(delivery.pk)
    assert len(receiver.requests) == 2


def test_a_delivery_succeeds_at_most_once_however_often_its_task_runs(merchant, receiver):
    _, delivery = _deliver_one(merchant, receiver)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
    for _ in range(3):
        deliver_webhook_task.delay(delivery.pk)
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempt_log.count() == 1


def test_a_delivery_locked_by_another_worker_is_skipped_not_waited_for(merchant, receiver):
    if connection.vendor != "postgresql":
        pytest.fail("needs PostgreSQL: SKIP LOCKED is what is tested")
    _, delivery = _deliver_one(merchant, receiver, 500)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # due again

    results = []

    def other_worker():
        results.append(claim_delivery(delivery.pk, now=timezone.now()))
        connection.close()

    with transaction.atomic():
        WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)  # a worker in the middle of its claim
        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(timeout=5)
        assert not thread.is_alive() and results == [None]
    mine = claim_delivery(delivery.pk, now=timezone.now())
    assert mine is not None and mine.locked_until > timezone.now()
    assert claim_delivery(delivery.pk, now=timezone.now()) is None  # leased to the first claimer


def test_an_endpoint_that_does_not_answer_in_time_is_logged_as_a_timeout_and_retried(merchant, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.delay = 3
    _, delivery = _deliver_one(merchant, receiver)
    delivery.refresh_from_db()
    attempt = delivery.attempt_log.get()
    assert (attempt.response_status, attempt.error) == (None, "Timed out after 1 s.")
    assert 900 <= attempt.duration_ms < 2500
    assert delivery.status == "pending" and delivery.next_attempt_at is not None


def test_a_refused_connection_is_logged_and_retried(merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    update_endpoint(endpoint, url=f"http://127.0.0.1:{closed_port}/hooks")
    create_affiliate(merchant, email="maya@example.com", code="maya")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    attempt = delivery.attempt_log.get()
    assert (attempt.response_status, attempt.error) == (None, "Connection refused.")
    assert attempt.url == f"http://127.0.0.1:{closed_port}/hooks"
    assert delivery.status == "pending"


def test_a_delivery_due_while_its_endpoint_is_disabled_is_failed_without_sending(merchant, receiver):
    endpoint, delivery = _deliver_one(merchant, receiver, 500)
    update_endpoint(endpoint, status="disabled")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    deliver_webhook_task.delay(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.attempt_log.get(number=2).error == "Not sent: the endpoint is disabled."
    assert len(receiver.requests) == 1


def test_a_later_delivery_about_the_same_commission_waits_for_the_earlier_one(merchant, affiliate, receiver, api):
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_CREATED, EventType.COMMISSION_UPDATED)
    receiver.answer((500, "busy"))
    sale = {"referral": affiliate.code, "amount": 10000, "currency": "usd"}
    assert api.post("/api/v1/conversions", {"id": "order-1", **sale}).status_code == 201  # answered 500
    assert api.post("/api/v1/conversions", {"id": "order-2", **sale}).status_code == 201
    assert api.post("/api/v1/conversions/order-1/refund", {"amount": 2500}).status_code == 200
    created, other, updated = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("pk")
    assert (created.event.type, other.event.type, updated.event.type) == (
        "commission.created",
        "commission.created",
        "commission.updated",
    )
    assert created.object_id == updated.object_id == created.event.object_id != other.object_id

    # The refund's update waits behind the creation's retry; another commission's event does not.
    assert [r.headers["webhook-id"] for r in receiver.requests] == [created.event.event_id, other.event.event_id]
    updated.refresh_from_db()
    assert (updated.status, updated.attempts) == ("pending", 0)
    assert claim_delivery(updated.pk, now=timezone.now()) is None
    later = timezone.now() + timedelta(minutes=1)  # the creation's retry is due, and the sweep's grace is over
    assert due_deliveries(now=later) == [created.pk]

    WebhookDelivery.objects.filter(pk=created.pk).update(next_attempt_at=timezone.now())
    deliver_webhook_task.delay(created.pk)
    assert due_deliveries(now=later) == [updated.pk]  # free to go now
    deliver_webhook_task.delay(updated.pk)
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids == [created.event.event_id, other.event.event_id, created.event.event_id, updated.event.event_id]
    assert receiver.requests[3].verified(endpoint.secret)["data"]["object"]["reversed_amount"] == 500
    assert set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)) == {"succeeded"}


def test_a_delivery_that_failed_for_good_no_longer_holds_up_the_next(merchant, affiliate, receiver, api):
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_CREATED, EventType.COMMISSION_UPDATED)
    receiver.answer(500)
    sale = {"id": "order-1", "referral": affiliate.code, "amount": 10000, "currency": "usd"}
    assert api.post("/api/v1/conversions", sale).status_code == 201
    assert api.post("/api/v1/conversions/order-1/refund", {"amount": 2500}).status_code == 200
    created, updated = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk")
    assert claim_delivery(updated.pk, now=timezone.now()) is None
    assert len(receiver.requests) == 1  # the update waits
    WebhookDelivery.objects.filter(pk=created.pk).update(status="failed", next_attempt_at=None)  # three days on
    deliver_webhook_task.delay(updated.pk)
    updated.refresh_from_db()
    assert (updated.status, len(receiver.requests)) == ("succeeded", 2)
