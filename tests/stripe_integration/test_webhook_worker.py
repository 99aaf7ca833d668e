"""End to end on the real stack: signed events through the webhook, a real Celery worker, Redis and Postgres."""

from datetime import timedelta

import pytest
from django.utils import timezone

from affiliates.models import Commission
from stripe_integration.drainers import requeue_stale_events
from stripe_integration.models import StripeEvent
from tests.conftest import wait_for
from tests.factories import ReferralFactory
from tests.stripe_events import checkout_session, customer, invoice, make_event, new_id, post_event

pytestmark = pytest.mark.worker


def test_worker_attributes_a_checkout_and_a_waiting_invoice(client, merchant, affiliate, celery_worker):
    referral = ReferralFactory(affiliate=affiliate)
    account = merchant.stripe_account_id
    session = checkout_session(client_reference_id=referral.rid)
    assert post_event(client, make_event("checkout.session.completed", session, account=account)).status_code == 200
    commission = wait_for(
        lambda: Commission.objects.for_merchant(merchant).filter(source_id=session["payment_intent"]).first()
    )
    assert (commission.amount, commission.affiliate) == (2000, affiliate)

    # An invoice whose customer is linked only later: parked by the worker, woken by the link.
    trial = customer(metadata={"_afficoneRef": "alice"})
    inv = invoice(customer=trial["id"], subscription=new_id("sub"))
    post_event(client, make_event("invoice.paid", inv, account=account))
    parked = wait_for(lambda: StripeEvent.objects.filter(type="invoice.paid", status="waiting").first())
    assert parked.waiting_for == trial["id"]
    post_event(client, make_event("customer.created", trial, account=account))
    wait_for(lambda: Commission.objects.for_merchant(merchant).filter(source_id=inv["id"]).exists())
    wait_for(lambda: StripeEvent.objects.get(pk=parked.pk).status == "processed")
    assert Commission.objects.for_merchant(merchant).count() == 2


def test_event_stored_but_never_enqueued_is_picked_up_by_the_sweep(merchant, affiliate, celery_worker):
    referral = ReferralFactory(affiliate=affiliate)
    session = checkout_session(client_reference_id=referral.rid)
    payload = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
    # As the webhook stores it, but the broker was down when it tried to enqueue the task.
    event = StripeEvent.objects.create(
        stripe_id=payload["id"], type=payload["type"], account=payload["account"], merchant=merchant, payload=payload
    )
    StripeEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=2))
    assert requeue_stale_events() == 1
    wait_for(lambda: StripeEvent.objects.get(pk=event.pk).status == "processed")
    assert Commission.objects.for_merchant(merchant).get().source_id == session["payment_intent"]
    assert requeue_stale_events() == 0
