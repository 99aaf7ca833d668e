"""Failures are recorded on the event and retried by the periodic sweep; nothing is lost or counted twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from affiliates.models import Commission
from stripe_integration.drainers import requeue_stale_events
from stripe_integration.models import StripeEvent
from stripe_integration.services import MAX_ATTEMPTS
from stripe_integration.tasks import process_stripe_event_task
from tests.factories import ReferralFactory
from tests.stripe_events import checkout_session, make_event, post_event

pytestmark = pytest.mark.django_db


def test_failure_is_recorded_on_the_row_and_retried_with_backoff(
    client, merchant, affiliate, django_capture_on_commit_callbacks
):
    referral = ReferralFactory(affiliate=affiliate)
    # A session Stripe would never send: its amount is not a number. The handler fails; the webhook still says 200.
    broken = checkout_session(client_reference_id=referral.rid, amount_total="lots")
    event = make_event("checkout.session.completed", broken, account=merchant.stripe_account_id)
    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status == StripeEvent.Status.FAILED
    assert stored.attempts == 1
    assert "ValueError" in stored.error and "Traceback" in stored.traceback
    assert Commission.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stale_events() == 0  # backing off: the last attempt was just now
        assert requeue_stale_events(now=timezone.now() + timedelta(minutes=2)) == 1
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (StripeEvent.Status.FAILED, 2)

    StripeEvent.objects.filter(pk=stored.pk).update(attempts=MAX_ATTEMPTS)
    assert requeue_stale_events(now=timezone.now() + timedelta(days=1)) == 0  # out of attempts: left for a person


def test_task_run_twice_writes_one_commission(client, merchant, affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    event = make_event(
        "checkout.session.completed",
        checkout_session(client_reference_id=referral.rid),
        account=merchant.stripe_account_id,
    )
    post_event(client, event)
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    process_stripe_event_task.delay(stored.pk)
    StripeEvent.objects.filter(pk=stored.pk).update(status=StripeEvent.Status.PENDING)  # a redelivery after a crash
    process_stripe_event_task.delay(stored.pk)
    assert Commission.objects.count() == 1
    stored.refresh_from_db()
    assert stored.status == StripeEvent.Status.PROCESSED


def test_pending_event_is_requeued_once_a_minute_has_passed(merchant, affiliate, django_capture_on_commit_callbacks):
    referral = ReferralFactory(affiliate=affiliate)
    payload = make_event(
        "checkout.session.completed",
        checkout_session(client_reference_id=referral.rid),
        account=merchant.stripe_account_id,
    )
    event = StripeEvent.objects.create(
        stripe_id=payload["id"], type=payload["type"], account=payload["account"], merchant=merchant, payload=payload
    )
    assert requeue_stale_events() == 0  # just stored: its own task is surely still on its way
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stale_events(now=timezone.now() + timedelta(seconds=61)) == 1
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.PROCESSED
    assert Commission.objects.count() == 1


def test_events_waiting_a_week_for_a_link_that_never_came_are_ignored(client, merchant):
    from stripe_integration.tasks import requeue_stale_events_task
    from tests.stripe_events import invoice

    old, recent = (invoice(customer=f"cus_nobody_referred_{n}") for n in (1, 2))
    for obj in (old, recent):
        post_event(client, make_event("invoice.paid", obj, account=merchant.stripe_account_id))
    events = StripeEvent.objects.for_merchant(merchant)
    assert set(events.values_list("status", flat=True)) == {StripeEvent.Status.WAITING}
    events.filter(payload__data__object__id=old["id"]).update(received_at=timezone.now() - timedelta(days=8))

    requeue_stale_events_task.delay()

    statuses = dict(events.values_list("payload__data__object__id", "status"))
    assert statuses == {old["id"]: StripeEvent.Status.IGNORED, recent["id"]: StripeEvent.Status.WAITING}
    assert not Commission.objects.for_merchant(merchant).exists()
