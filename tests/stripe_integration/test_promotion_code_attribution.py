"""Payments attributed by an assigned promotion code, with no cookie and no referral id: signed events through the real
webhook and drainer, the merchant's Stripe account played by tests/fake_stripe/."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from affiliates.models import Commission, Referral
from stripe_integration.models import PromotionCode, StripeEvent
from tenants.services import create_api_key
from tests.factories import AffiliateFactory, ReferralFactory
from tests.stripe_events import (
    checkout_session,
    discount,
    invoice,
    make_event,
    new_id,
    post_event,
    promotion_code,
    subscription,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(merchant, affiliate):
    return AffiliateFactory(merchant=merchant, program=affiliate.program, code="bob", email="bob@example.net")


@pytest.fixture
def bob20(merchant, bob, fake_stripe):
    """BOB20 in the merchant's Stripe account, assigned to bob (as the dashboard or the API would)."""
    code = fake_stripe.put(promotion_code(code="BOB20"), account=merchant.stripe_account_id)
    return PromotionCode.objects.create(merchant=merchant, affiliate=bob, stripe_id=code["id"], code="BOB20")


@pytest.fixture
def api_referrals(merchant):
    """The merchant's referrals as GET /api/v1/referrals shows them, by id."""
    key = create_api_key(merchant, name="test")[1]

    def referrals() -> dict[str, dict]:
        response = Client().get("/api/v1/referrals", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
        return {r["id"]: r for r in response.json()["results"]}

    return referrals


@pytest.fixture
def deliver(client, merchant):
    def deliver(type, obj):
        event = make_event(type, obj, account=merchant.stripe_account_id)
        assert post_event(client, event).status_code == 200
        stored = StripeEvent.objects.get(stripe_id=event["id"])
        assert stored.error == ""
        return stored

    return deliver


def earned(merchant):
    return sorted(
        (c.source_id, c.affiliate.code, c.amount, c.is_recurring)
        for c in Commission.objects.for_merchant(merchant).select_related("affiliate")
    )


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def with_code(code: PromotionCode, **patch) -> dict:
    """A paid Checkout Session that used `code` (`discounts[].promotion_code`), with no referral id."""
    return checkout_session(
        discounts=[{"coupon": new_id("coupon"), "promotion_code": code.stripe_id}],
        amount_subtotal=12500,
        amount_total=10000,
        total_details={"amount_discount": 2500, "amount_tax": 0},
        **patch,
    )


def test_a_checkout_with_the_code_and_no_referral_id_earns_for_its_affiliate(deliver, merchant, bob20, api_referrals):
    session = with_code(bob20, customer=new_id("cus"))
    deliver("checkout.session.completed", session)
    assert earned(merchant) == [(session["payment_intent"], "bob", 2000, False)]
    referral = Referral.objects.get(merchant=merchant, stripe_customer_id=session["customer"])
    assert (referral.affiliate.code, referral.source) == ("bob", Referral.Source.PROMOTION_CODE)
    assert api_referrals()[referral.rid]["source"] == "promotion_code"


def test_a_code_nobody_holds_earns_nothing(deliver, merchant, bob20, fake_stripe):
    session = checkout_session(discounts=[{"coupon": None, "promotion_code": new_id("promo")}])
    assert deliver("checkout.session.completed", session).status == StripeEvent.Status.PROCESSED
    assert earned(merchant) == []
    assert fake_stripe.requests == []  # a Checkout Session names its codes: nothing to ask Stripe


def test_a_subscription_bought_with_the_code_earns_recurring_on_later_invoices(deliver, merchant, bob20):
    customer, subscription = new_id("cus"), new_id("sub")
    session = with_code(bob20, mode="subscription", customer=customer, subscription=subscription)
    deliver("checkout.session.completed", session)
    first = invoice(customer=customer, subscription=subscription, billing_reason="subscription_create")
    renewal = invoice(customer=customer, subscription=subscription, paid_at=ts(datetime.now(UTC) + timedelta(days=30)))
    deliver("invoice.paid", first)
    deliver("invoice.paid", renewal)
    assert earned(merchant) == sorted([(first["id"], "bob", 2000, False), (renewal["id"], "bob", 2000, True)])


def test_an_invoice_naming_its_discount_by_id_is_read_back_from_stripe(deliver, merchant, bob20, fake_stripe):
    """A subscription created through the API: its invoices are the only carrier of the code, and their `discounts`
    are `di_` ids, which Stripe has no endpoint for: the invoice is read again with expand[]=discounts."""
    customer, subscription = new_id("cus"), new_id("sub")
    applied = fake_stripe.put_expandable(
        discount(promotion_code=bob20.stripe_id, customer=customer, subscription=subscription),
        account=merchant.stripe_account_id,
    )
    first = invoice(
        customer=customer,
        subscription=subscription,
        billing_reason="subscription_create",
        discounts=[applied["id"]],
        total_discount_amounts=[{"amount": 2500, "discount": applied["id"]}],
    )
    fake_stripe.put(first, account=merchant.stripe_account_id)
    deliver("invoice.paid", first)
    assert earned(merchant) == [(first["id"], "bob", 2000, False)]
    [read] = fake_stripe.requests_to(f"/v1/invoices/{first['id']}", "GET")
    assert read.stripe_account == merchant.stripe_account_id
    assert set(read.query.values()) >= {"discounts", "total_discount_amounts.discount"}
    referral = Referral.objects.get(merchant=merchant, stripe_customer_id=customer)
    assert (referral.source, referral.stripe_subscription_id) == (Referral.Source.PROMOTION_CODE, subscription)

    asked = len(fake_stripe.requests)
    renewal = invoice(customer=customer, subscription=subscription, discounts=[applied["id"]])
    deliver("invoice.paid", renewal)
    assert (renewal["id"], "bob", 2000, True) in earned(merchant)
    # The customer is bound now: the renewal's discounts are not read (only whether the merchant excluded the
    # customer, services/exclusions.py).
    assert fake_stripe.requests_to(f"/v1/invoices/{renewal['id']}") == []
    assert f"/v1/customers/{customer}" in [r.path for r in fake_stripe.requests[asked:]]


def test_a_trial_invoice_with_the_code_binds_the_customer_and_earns_nothing(deliver, merchant, bob20, fake_stripe):
    customer, subscription = new_id("cus"), new_id("sub")
    applied = fake_stripe.put_expandable(discount(promotion_code=bob20.stripe_id), account=merchant.stripe_account_id)
    trial = invoice(customer=customer, subscription=subscription, amount_paid=0, discounts=[applied["id"]])
    fake_stripe.put(trial, account=merchant.stripe_account_id)
    deliver("invoice.paid", trial)
    assert earned(merchant) == []
    referral = Referral.objects.get(merchant=merchant, stripe_customer_id=customer)
    assert referral.affiliate.code == "bob" and referral.first_payment_at is None
    paid = invoice(customer=customer, subscription=subscription, amount_paid=5000)
    deliver("invoice.paid", paid)
    assert earned(merchant) == [(paid["id"], "bob", 1000, True)]
    assert Referral.objects.get(pk=referral.pk).first_payment_at is not None  # the first paid invoice opens it


def test_an_invoice_without_an_assigned_code_still_waits_for_its_customer(deliver, merchant, bob20, fake_stripe):
    applied = fake_stripe.put_expandable(discount(promotion_code=None), account=merchant.stripe_account_id)
    unreferred = invoice(customer=new_id("cus"), discounts=[applied["id"]])
    fake_stripe.put(unreferred, account=merchant.stripe_account_id)
    assert deliver("invoice.paid", unreferred).status == StripeEvent.Status.WAITING
    assert earned(merchant) == []


def test_a_merchant_without_codes_asks_stripe_nothing(deliver, merchant, fake_stripe):
    discounted = invoice(customer=new_id("cus"), discounts=[new_id("di")])
    assert deliver("invoice.paid", discounted).status == StripeEvent.Status.WAITING
    assert fake_stripe.requests == []


# --- a referral id and a code that disagree ---------------------------------------------------------------------------


@pytest.mark.parametrize("codes_first, winner", [(False, "alice"), (True, "bob")])
def test_the_program_decides_between_a_referral_id_and_a_code(deliver, merchant, affiliate, bob20, codes_first, winner):
    affiliate.program.promotion_codes_first = codes_first
    affiliate.program.save(update_fields=["promotion_codes_first"])
    alices = ReferralFactory(affiliate=affiliate)
    session = with_code(bob20, client_reference_id=alices.rid)
    deliver("checkout.session.completed", session)
    assert earned(merchant) == [(session["payment_intent"], winner, 2000, False)]


def test_a_referral_id_and_a_code_of_the_same_affiliate_keep_the_referral(deliver, merchant, bob, bob20):
    bobs = ReferralFactory(affiliate=bob)
    customer = new_id("cus")
    deliver("checkout.session.completed", with_code(bob20, client_reference_id=bobs.rid, customer=customer))
    assert Referral.objects.get(merchant=merchant, stripe_customer_id=customer) == bobs
    assert not Referral.objects.filter(source=Referral.Source.PROMOTION_CODE).exists()


@pytest.mark.parametrize("codes_first, winner", [(False, "alice"), (True, "bob")])
def test_an_invoice_before_its_checkout_session_decides_as_the_session_will(
    deliver, merchant, affiliate, bob20, fake_stripe, codes_first, winner
):
    """Events arrive in any order: the subscription's first invoice, carrying bob's code, comes before the Checkout
    Session that names alice's referral id. The invoice reads that session from Stripe and binds the customer as the
    session's own event will, so the outcome does not depend on the order."""
    affiliate.program.promotion_codes_first = codes_first
    affiliate.program.save(update_fields=["promotion_codes_first"])
    alices = ReferralFactory(affiliate=affiliate)
    customer, subscription = new_id("cus"), new_id("sub")
    session = with_code(
        bob20, client_reference_id=alices.rid, mode="subscription", customer=customer, subscription=subscription
    )
    fake_stripe.put(session, account=merchant.stripe_account_id)
    applied = fake_stripe.put_expandable(discount(promotion_code=bob20.stripe_id), account=merchant.stripe_account_id)
    first = invoice(
        customer=customer, subscription=subscription, billing_reason="subscription_create", discounts=[applied["id"]]
    )
    fake_stripe.put(first, account=merchant.stripe_account_id)
    deliver("invoice.paid", first)
    deliver("checkout.session.completed", session)
    assert earned(merchant) == [(first["id"], winner, 2000, False)]
    assert Referral.objects.get(merchant=merchant, stripe_customer_id=customer).affiliate.code == winner


def test_a_subscription_given_the_code_binds_its_customer(deliver, merchant, bob20, fake_stripe):
    """customer.subscription.created with the code (its `discounts` are di_ ids, read back with expand[]): the
    customer is bound before any invoice, so the first invoice, without a discount, earns for the code's affiliate."""
    customer = new_id("cus")
    applied = fake_stripe.put_expandable(discount(promotion_code=bob20.stripe_id), account=merchant.stripe_account_id)
    sub = fake_stripe.put(
        subscription(customer=customer, discounts=[applied["id"]]), account=merchant.stripe_account_id
    )
    deliver("customer.subscription.created", sub)
    [read] = fake_stripe.requests_to(f"/v1/subscriptions/{sub['id']}", "GET")
    assert read.query == {"expand[0]": "discounts"}
    referral = Referral.objects.get(merchant=merchant, stripe_customer_id=customer)
    assert (referral.affiliate.code, referral.source, referral.stripe_subscription_id) == (
        "bob",
        Referral.Source.PROMOTION_CODE,
        sub["id"],
    )
    paid = invoice(customer=customer, subscription=sub["id"], billing_reason="subscription_create")
    deliver("invoice.paid", paid)
    assert earned(merchant) == [(paid["id"], "bob", 2000, False)]
    # An update of a bound customer's subscription changes nothing and asks Stripe nothing.
    asked = len(fake_stripe.requests)
    deliver("customer.subscription.updated", sub)
    assert len(fake_stripe.requests) == asked
