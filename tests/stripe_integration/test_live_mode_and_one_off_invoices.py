"""A live installation ignores test-mode events; one-off invoices never double a Checkout payment's commission."""

import pytest

from affiliates.models import Commission
from stripe_integration.models import StripeEvent
from tests.factories import ReferralFactory
from tests.stripe_events import checkout_session, invoice, make_event, new_id, post_event

pytestmark = pytest.mark.django_db


def _paid_session(referral, **patch):
    return checkout_session(
        client_reference_id=referral.rid, mode="payment", payment_status="paid", amount_total=10000, **patch
    )


def test_a_live_installation_ignores_test_mode_events(client, merchant, affiliate, settings):
    settings.STRIPE_LIVE_EVENTS_ONLY = True
    referral = ReferralFactory(affiliate=affiliate)
    test_event = make_event("checkout.session.completed", _paid_session(referral), account=merchant.stripe_account_id)
    live_event = make_event(
        "checkout.session.completed", _paid_session(referral), account=merchant.stripe_account_id, livemode=True
    )

    assert post_event(client, test_event).status_code == 200
    assert post_event(client, live_event).status_code == 200

    assert StripeEvent.objects.get(stripe_id=test_event["id"]).status == StripeEvent.Status.IGNORED
    assert StripeEvent.objects.get(stripe_id=live_event["id"]).status == StripeEvent.Status.PROCESSED
    assert Commission.objects.for_merchant(merchant).count() == 1


def test_a_test_installation_attributes_test_mode_events(client, merchant, affiliate, settings):
    settings.STRIPE_LIVE_EVENTS_ONLY = False
    referral = ReferralFactory(affiliate=affiliate)
    post_event(
        client, make_event("checkout.session.completed", _paid_session(referral), account=merchant.stripe_account_id)
    )
    assert Commission.objects.for_merchant(merchant).count() == 1


def test_checkout_with_invoice_creation_earns_once(client, merchant, affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    pi, cus = new_id("pi"), new_id("cus")
    session = _paid_session(referral, customer=cus, payment_intent=pi)
    one_off = invoice(shape="old", subscription="", payment_intent=pi, customer=cus, billing_reason="manual")

    for event in (
        make_event("checkout.session.completed", session, account=merchant.stripe_account_id),
        make_event("invoice.paid", one_off, account=merchant.stripe_account_id),
    ):
        assert post_event(client, event).status_code == 200

    assert list(Commission.objects.for_merchant(merchant).values_list("source_id", "amount")) == [(pi, 2000)]
