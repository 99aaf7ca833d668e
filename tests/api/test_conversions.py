"""POST /api/v1/conversions and /conversions/{id}/refund: sales outside Stripe earn by the program's rules, once."""

import pytest
from django.core import mail

from affiliates.models import Commission, Referral
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory

from .conftest import assert_error


@pytest.fixture
def referral(affiliate):
    return ReferralFactory(affiliate=affiliate)


def convert(api, **fields):
    body = {"id": "order-1001", "amount": 12345, "currency": "usd", **fields}
    return api.post("/api/v1/conversions", body)


def test_conversion_by_referral_id_earns_the_programs_commission(
    api, merchant, affiliate, referral, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = convert(api, referral=referral.rid, customer_email="buyer@example.org")
    assert response.status_code == 201, response.content
    body = response.json()
    commission = Commission.objects.get(merchant=merchant)
    assert (commission.source_type, commission.source_id) == ("conversion", "conv_order-1001")
    # 20% of 123.45, rounded half-up to the cent.
    assert (commission.amount, commission.currency, commission.base_amount) == (2469, "usd", 12345)
    assert commission.referral == referral and commission.affiliate == affiliate
    assert (commission.rule_source, commission.rule_type, commission.rule_bps) == ("program", "percent", 2000)
    assert body["id"] == "order-1001"
    assert (body["referral"], body["affiliate"], body["amount"]) == (referral.rid, str(affiliate.public_id), 12345)
    assert body["commission"]["id"] == str(commission.public_id)
    assert (body["commission"]["amount"], body["commission"]["status"]) == (2469, "pending")
    referral.refresh_from_db()
    assert referral.customer_email == "buyer@example.org" and referral.converted_at is not None
    assert [m.to for m in mail.outbox] == [[affiliate.email]]  # the affiliate hears of the new commission


def test_conversion_by_affiliate_code_uses_the_affiliates_override(api, merchant, affiliate):
    affiliate.commission_type_override, affiliate.commission_amount_override = "fixed", 1500
    affiliate.save()
    response = convert(api, referral="ALICE", amount=99900, currency="EUR")
    assert response.status_code == 201, response.content
    commission = Commission.objects.get(merchant=merchant)
    # A fixed override pays its amount in the program's commission currency, whatever the sale.
    assert (commission.amount, commission.currency, commission.rule_source, commission.rule_type) == (
        1500,
        "usd",
        "affiliate",
        "fixed",
    )
    assert commission.rule_amount == 1500 and commission.rule_bps is None
    assert commission.referral.affiliate == affiliate


def test_conversion_is_idempotent_by_the_merchants_id(api, merchant, referral):
    first = convert(api, referral=referral.rid)
    again = convert(api, referral=referral.rid)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Commission.objects.filter(merchant=merchant).count() == 1
    # By code too: a retry does not create a second referral.
    convert(api, id="order-by-code", referral="alice")
    referrals = Referral.objects.filter(merchant=merchant).count()
    assert convert(api, id="order-by-code", referral="alice").status_code == 200
    assert Referral.objects.filter(merchant=merchant).count() == referrals
    # The same id with another amount is not the same sale.
    assert_error(convert(api, referral=referral.rid, amount=1), 409, code="conversion_mismatch", field="id")
    assert Commission.objects.get(source_id="conv_order-1001").base_amount == 12345


def test_conversion_id_cannot_collide_with_a_stripe_payment(api, merchant, referral):
    stripe_commission = CommissionFactory(referral=referral, source_id="pi_3MtwBwLkdIwHu7ix28a3tqPa")
    response = convert(api, id="pi_3MtwBwLkdIwHu7ix28a3tqPa", referral=referral.rid)
    assert response.status_code == 201
    assert Commission.objects.filter(merchant=merchant).count() == 2
    stripe_commission.refresh_from_db()
    assert stripe_commission.source_type == "payment_intent"


def test_unknown_referral_or_bad_input_is_4xx_and_stores_nothing(api, merchant, affiliate):
    assert_error(convert(api, referral="nobody-here"), 404, code="not_found", field="referral")
    assert_error(convert(api, referral="bad ref!"), 400, field="referral")
    assert_error(convert(api, referral="alice", amount=0), 400, code="min_value", field="amount")
    assert_error(convert(api, referral="alice", amount="1234"), 400, code="invalid_type", field="amount")
    assert_error(convert(api, referral="alice", amount=12.5), 400, code="invalid_type", field="amount")
    assert_error(convert(api, referral="alice", currency="dollars"), 400, field="currency")
    assert_error(convert(api, referral="alice", id="a/b"), 400, field="id")
    assert_error(
        api.post("/api/v1/conversions", {"referral": "alice", "amount": 5, "currency": "usd"}),
        400,
        code="required",
        field="id",
    )
    assert not Commission.objects.filter(merchant=merchant).exists()
    assert not Referral.objects.filter(merchant=merchant).exists()


def test_suspended_affiliate_earns_nothing_and_nothing_is_stored(api, merchant, affiliate):
    affiliate.status = "suspended"
    affiliate.save()
    error = assert_error(convert(api, referral="alice"), 409, code="affiliate_not_approved", field="referral")
    assert "suspended" in error["message"]
    assert not Commission.objects.filter(merchant=merchant).exists()
    assert not Referral.objects.filter(merchant=merchant).exists()


def test_self_referral_is_recorded_voided(api, merchant, affiliate, referral):
    response = convert(api, referral=referral.rid, customer_email=affiliate.email.upper())
    assert response.status_code == 201
    commission = Commission.objects.get(merchant=merchant)
    assert (commission.is_self_referral, commission.status, commission.amount) == (True, "voided", 0)


def test_refund_partial_then_the_rest(api, merchant, referral):
    convert(api, referral=referral.rid, amount=10000)  # earns 2000
    url = "/api/v1/conversions/order-1001/refund"

    response = api.post(url, {"amount": 2500})
    assert response.status_code == 200, response.content
    commission = Commission.objects.get(merchant=merchant)
    assert (commission.refunded_amount, commission.reversed_amount, commission.status) == (2500, 500, "pending")
    assert (response.json()["refunded_amount"], response.json()["commission"]["net_amount"]) == (2500, 1500)

    api.post(url, {"amount": 2500})  # refunds add up
    commission.refresh_from_db()
    assert (commission.refunded_amount, commission.reversed_amount) == (5000, 1000)

    assert_error(api.post(url, {"amount": 5001}), 409, code="refund_exceeds_sale", field="amount")
    response = api.post(url, {})  # the rest
    assert response.status_code == 200
    commission.refresh_from_db()
    assert (commission.refunded_amount, commission.reversed_amount, commission.status) == (10000, 2000, "voided")
    assert_error(api.post(url, {}), 409, code="already_refunded")
    assert_error(api.post("/api/v1/conversions/order-unknown/refund", {}), 404, code="not_found")


def test_recurring_conversions_follow_the_programs_limit(api, merchant, affiliate, referral):
    program = affiliate.program
    program.recurring_months = 0  # first payment only
    program.save()
    assert convert(api, id="first", referral=referral.rid).status_code == 201
    assert_error(convert(api, id="renewal", referral=referral.rid), 409, code="outside_recurring_limit")
    assert list(Commission.objects.filter(merchant=merchant).values_list("source_id", flat=True)) == ["conv_first"]
    # A new referral of another affiliate is unaffected.
    other = AffiliateFactory(merchant=merchant, program=program)
    assert convert(api, id="other", referral=other.code).status_code == 201
