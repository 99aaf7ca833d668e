from datetime import timedelta

import pytest
from django.utils import timezone

from stripe_integration.models import StripeEvent
from stripe_integration.selectors import webhook_health
from tests.stripe_events import customer, invoice, make_event, post_event

pytestmark = pytest.mark.django_db


def test_webhook_health_counts_the_last_24_hours_of_this_merchant_only(client, merchant, other_merchant):
    assert webhook_health(merchant) == {
        "received": 0,
        "ignored": 0,
        "failed": 0,
        "waiting": 0,
        "pending": 0,
        "last_event_at": None,
    }
    post_event(client, make_event("customer.created", customer(), account=merchant.stripe_account_id))
    post_event(client, make_event("plan.created", {"id": "plan_1"}, account=merchant.stripe_account_id))
    post_event(client, make_event("invoice.paid", invoice(customer="cus_unlinked"), account=merchant.stripe_account_id))
    post_event(client, make_event("customer.created", customer(), account=other_merchant.stripe_account_id))
    old = make_event("customer.created", customer(), account=merchant.stripe_account_id)
    post_event(client, old)
    StripeEvent.objects.filter(stripe_id=old["id"]).update(received_at=timezone.now() - timedelta(hours=25))
    failed = make_event("customer.created", customer(), account=merchant.stripe_account_id)
    post_event(client, failed)
    StripeEvent.objects.filter(stripe_id=failed["id"]).update(status=StripeEvent.Status.FAILED, error="boom")

    health = webhook_health(merchant)
    assert {k: health[k] for k in ("received", "ignored", "failed", "waiting", "pending")} == {
        "received": 4,
        "ignored": 1,
        "failed": 1,
        "waiting": 1,
        "pending": 0,
    }
    assert health["last_event_at"] == StripeEvent.objects.filter(merchant=merchant).latest("received_at").received_at
