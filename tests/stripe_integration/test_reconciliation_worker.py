"""The check for missed events on the real stack: the button and the nightly beat task run it in a real Celery
worker, against Postgres, the Redis broker and the local fake of Stripe (the `fake_stripe` fixture comes before
`celery_worker`, so the worker reaches the same server)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from affiliates.models import Commission
from stripe_integration.models import StripeEvent, StripeSync
from stripe_integration.tasks import sync_connected_merchants_task
from tenants.models import Merchant
from tests.conftest import wait_for
from tests.factories import AffiliateFactory, ReferralFactory
from tests.stripe_events import checkout_session, make_event, now

pytestmark = pytest.mark.worker

SYNC = reverse("stripe_integration:sync")
SETTINGS = reverse("affiliates:settings")


def referred_checkouts(fake_stripe, affiliate, count: int) -> list[dict]:
    """`count` referred checkouts of `affiliate`'s merchant in Stripe's Events API, which the webhook never
    delivered."""
    merchant = affiliate.merchant
    sessions = [checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid) for _ in range(count)]
    for index, session in enumerate(sessions):
        event = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
        event["created"] = now() - count + index
        fake_stripe.add_event(event)
    return sessions


def finished(merchant) -> StripeSync | None:
    return StripeSync.objects.for_merchant(merchant).exclude(status__in=StripeSync.ACTIVE).first()


def test_the_button_runs_the_check_in_a_worker_and_the_page_shows_what_it_found(
    client, owner, merchant, affiliate, fake_stripe, celery_worker
):
    sessions = referred_checkouts(fake_stripe, affiliate, 2)
    client.force_login(owner)

    response = client.post(SYNC, {"next": SETTINGS}, follow=True)

    assert response.redirect_chain == [(SETTINGS, 302)]
    assert "Checking Stripe for events the webhook missed since" in response.content.decode()
    run = wait_for(lambda: finished(merchant))
    assert (run.status, run.trigger, run.events_seen, run.events_stored) == ("succeeded", "button", 2, 2)
    wait_for(lambda: Commission.objects.for_merchant(merchant).count() == 2)
    commissions = list(Commission.objects.for_merchant(merchant))
    assert sorted(c.source_id for c in commissions) == sorted(s["payment_intent"] for s in sessions)
    assert {(c.affiliate_id, c.amount) for c in commissions} == {(affiliate.pk, 2000)}
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", client.get(SETTINGS).content.decode()))
    assert "2 the webhook had missed, stored and processed like any webhook event" in page


def test_the_nightly_task_checks_every_connected_merchant_and_one_refusal_stops_no_other(
    merchant, affiliate, other_merchant, fake_stripe, celery_worker
):
    # Connected ten days ago: the nightly check reads from the connection on.
    Merchant.objects.filter(pk__in=[merchant.pk, other_merchant.pk]).update(
        stripe_connected_at=timezone.now() - timedelta(days=10)
    )
    theirs = AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get(is_default=True), code="bob")
    referred_checkouts(fake_stripe, affiliate, 1)
    sessions = referred_checkouts(fake_stripe, theirs, 2)
    fake_stripe.deny_access(merchant.stripe_account_id, status=401)

    sync_connected_merchants_task.delay()

    refused = wait_for(lambda: finished(merchant))
    checked = wait_for(lambda: finished(other_merchant))
    assert (refused.trigger, refused.status) == ("nightly", "failed")
    assert refused.error.startswith(f"Stripe refused access to the account {merchant.stripe_account_id} (HTTP 401)")
    assert (checked.trigger, checked.status, checked.events_stored) == ("nightly", "succeeded", 2)
    wait_for(lambda: Commission.objects.for_merchant(other_merchant).count() == 2)
    assert sorted(Commission.objects.for_merchant(other_merchant).values_list("source_id", flat=True)) == sorted(
        s["payment_intent"] for s in sessions
    )
    assert not StripeEvent.objects.for_merchant(merchant).exists()
    assert not Commission.objects.for_merchant(merchant).exists()
