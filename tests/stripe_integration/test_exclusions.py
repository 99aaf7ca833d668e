"""Exclusions and trials: metadata `afficone: "false"` on the customer, subscription, invoice, PaymentIntent,
Checkout Session or a line's product earns nothing (the event says why, in Settings -> Stripe); a $0 invoice earns
nothing but keeps the binding, and the recurring window opens at the first paid invoice; a 100%-off promotion code
binds the customer and earns nothing. Signed events through the real webhook, the merchant's Stripe account played
by tests/fake_stripe/ (customers, subscriptions, products and invoices read where an event names them only by id),
and the same outcome in any order, with repeats."""

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, TestCase
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliates.models import Commission, Referral
from affiliates.services import create_affiliate, create_default_program, create_referral, update_program
from stripe_integration.models import PromotionCode, StripeEvent
from tenants.services import create_api_key
from tests.factories import MerchantFactory, ReferralFactory
from tests.stripe_events import (
    checkout_item,
    checkout_session,
    customer,
    discount,
    fixture,
    invoice,
    invoice_line,
    make_event,
    new_id,
    payment_intent,
    post_event,
    promotion_code,
    subscription,
)

pytestmark = pytest.mark.django_db

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=150)
OFF = {"afficone": " False "}  # any case, spaces around it ignored


def ts(days: float) -> int:
    return int((START + timedelta(days=days)).timestamp())


def product(fake_stripe, account, product_id, **metadata):
    obj = fixture("product")
    obj.update(id=product_id, metadata=metadata, created=ts(0))
    return fake_stripe.put(obj, account=account)


def lines(*items) -> dict:
    return {"data": list(items), "has_more": False}


@pytest.fixture
def referral(affiliate):
    return ReferralFactory(affiliate=affiliate)


@pytest.fixture
def account(merchant):
    return merchant.stripe_account_id


@pytest.fixture
def deliver(client, merchant):
    """Posts a signed event through the real view; returns the stored event, processed."""

    def deliver(type, obj):
        event = make_event(type, obj, account=merchant.stripe_account_id)
        assert post_event(client, event).status_code == 200
        stored = StripeEvent.objects.get(stripe_id=event["id"])
        assert (stored.status, stored.error) == (StripeEvent.Status.PROCESSED, "")
        return stored

    return deliver


def earned(merchant):
    return sorted(
        (c.source_id, c.affiliate.code, c.base_amount, c.amount, c.status, c.is_recurring)
        for c in Commission.objects.for_merchant(merchant).select_related("affiliate")
    )


def subscribe(deliver, referral, cus, sub, **patch):
    """A subscription bought at Checkout with the referral id: binds the customer; the money comes with invoices."""
    session = checkout_session(
        client_reference_id=referral.rid, mode="subscription", customer=cus, subscription=sub, **patch
    )
    return deliver("checkout.session.completed", session)


# --- one test per place the merchant can exclude ----------------------------------------------------------------


def test_a_customer_with_afficone_false_earns_nothing_and_stays_bound(
    deliver, merchant, referral, fake_stripe, account
):
    cus = fake_stripe.put(customer(metadata=OFF), account=account)["id"]
    sub = new_id("sub")
    subscribe(deliver, referral, cus, sub)
    event = deliver("invoice.paid", invoice(customer=cus, subscription=sub, billing_reason="subscription_create"))
    assert earned(merchant) == []
    assert event.outcome == "excluded: customer metadata afficone=false"
    assert [r.stripe_account for r in fake_stripe.requests_to(f"/v1/customers/{cus}")] == [account]
    referral.refresh_from_db()
    assert referral.stripe_customer_id == cus  # the binding stays: nothing earned, nobody else takes the customer

    # A one-off payment of the same customer (its own PaymentIntent, or through Checkout) earns nothing either.
    intent = payment_intent(customer=cus, metadata={"_afficoneRef": referral.rid})
    assert deliver("payment_intent.succeeded", intent).outcome == "excluded: customer metadata afficone=false"
    session = checkout_session(client_reference_id=referral.rid, customer=cus)
    assert deliver("checkout.session.completed", session).outcome == "excluded: customer metadata afficone=false"
    assert earned(merchant) == []


def test_a_customer_without_the_metadata_earns_and_is_read_once_per_payment(
    deliver, merchant, referral, fake_stripe, account
):
    cus = fake_stripe.put(customer(metadata={"afficone": "true"}), account=account)["id"]
    sub = new_id("sub")
    subscribe(deliver, referral, cus, sub)
    inv = invoice(customer=cus, subscription=sub, billing_reason="subscription_create")
    assert deliver("invoice.paid", inv).outcome == ""
    assert deliver("invoice.payment_succeeded", inv).outcome == ""  # the same invoice: recorded, nothing to read
    assert earned(merchant) == [(inv["id"], "alice", 10000, 2000, "pending", False)]
    assert len(fake_stripe.requests_to(f"/v1/customers/{cus}")) == 1


@pytest.mark.parametrize("shape", ["new", "old"])
def test_a_subscription_with_afficone_false_earns_nothing(deliver, merchant, referral, fake_stripe, account, shape):
    """Its invoices carry its metadata (`subscription_details`, as it was when each was finalised); an invoice of an
    API version that carries none gets it read from Stripe."""
    cus, sub = new_id("cus"), new_id("sub")
    subscribe(deliver, referral, cus, sub)
    if shape == "new":
        inv = invoice(customer=cus, subscription=sub, parent={"subscription_details": {"metadata": OFF}})
    else:
        fake_stripe.put(subscription(id=sub, customer=cus, metadata=OFF), account=account)
        inv = invoice(shape="old", customer=cus, subscription=sub, payment_intent=new_id("pi"))
    event = deliver("invoice.paid", inv)
    assert earned(merchant) == []
    assert event.outcome == "excluded: subscription metadata afficone=false"
    assert len(fake_stripe.requests_to(f"/v1/subscriptions/{sub}")) == (shape == "old")


def test_an_invoice_with_afficone_false_earns_nothing(deliver, merchant, referral, fake_stripe):
    cus, sub = new_id("cus"), new_id("sub")
    subscribe(deliver, referral, cus, sub)
    event = deliver("invoice.paid", invoice(customer=cus, subscription=sub, metadata={"afficone": "FALSE"}))
    assert earned(merchant) == []
    assert event.outcome == "excluded: invoice metadata afficone=false"
    assert fake_stripe.requests_to(f"/v1/customers/{cus}") == []  # what the invoice says decides: nothing to read

    other = invoice(customer=cus, subscription=sub, metadata={"afficone": "no"})  # only "false" excludes
    assert deliver("invoice.paid", other).outcome == ""
    assert [c[0] for c in earned(merchant)] == [other["id"]]


def test_a_payment_intent_with_afficone_false_earns_nothing(deliver, merchant, referral):
    intent = payment_intent(metadata={"_afficoneRef": referral.rid, **OFF})
    event = deliver("payment_intent.succeeded", intent)
    assert earned(merchant) == []
    assert event.outcome == "excluded: PaymentIntent metadata afficone=false"


def test_a_checkout_session_with_afficone_false_earns_nothing(deliver, merchant, referral):
    session = checkout_session(client_reference_id=referral.rid, metadata=OFF)
    event = deliver("checkout.session.completed", session)
    assert earned(merchant) == []
    assert event.outcome == "excluded: Checkout Session metadata afficone=false"


def test_an_excluded_product_excludes_only_its_lines(deliver, merchant, referral, fake_stripe, account):
    product(fake_stripe, account, "prod_gift", **OFF)
    product(fake_stripe, account, "prod_pro")
    cus, sub = new_id("cus"), new_id("sub")
    subscribe(deliver, referral, cus, sub)
    inv = invoice(
        customer=cus,
        subscription=sub,
        amount_paid=5000,
        billing_reason="subscription_create",
        lines=lines(
            invoice_line(amount=1000, product="prod_gift", price="price_gift"),
            invoice_line(amount=4000, product="prod_pro", price="price_pro"),
        ),
    )
    event = deliver("invoice.paid", inv)
    assert event.outcome == "excluded lines: product prod_gift metadata afficone=false"
    [commission] = Commission.objects.for_merchant(merchant)
    assert (commission.base_amount, commission.amount) == (5000, 800)  # 20% of the pro line only
    assert [
        (line["product"], line["base_amount"], line["amount"], line["rule_source"]) for line in commission.lines
    ] == [
        ("prod_gift", 1000, 0, "metadata"),
        ("prod_pro", 4000, 800, "program"),
    ]
    assert "prod_gift: the product's Stripe metadata (afficone: false)" in commission.rule_description
    [read] = fake_stripe.requests_to("/v1/products")
    assert sorted(v for k, v in read.query.items() if k.startswith("ids[")) == ["prod_gift", "prod_pro"]

    only_gift = invoice(
        customer=cus,
        subscription=sub,
        amount_paid=1000,
        lines=lines(invoice_line(amount=1000, product="prod_gift", price="price_gift")),
    )
    assert deliver("invoice.paid", only_gift).outcome == "excluded: product prod_gift metadata afficone=false"
    assert Commission.objects.for_merchant(merchant).count() == 1


def test_an_excluded_product_in_a_checkout_read_for_the_rules(deliver, merchant, referral, fake_stripe, account):
    update_program(
        referral.affiliate.program,
        rules=[{"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}}],
    )
    product(fake_stripe, account, "prod_gift", afficone="false")
    product(fake_stripe, account, "prod_pro")
    session = checkout_session(client_reference_id=referral.rid, amount_total=10000)
    fake_stripe.put_line_items(
        session,
        [
            checkout_item(amount=2000, product="prod_gift", price="price_gift"),
            checkout_item(amount=8000, product="prod_pro", price="price_pro"),
        ],
        account=account,
    )
    event = deliver("checkout.session.completed", session)
    assert event.outcome == "excluded lines: product prod_gift metadata afficone=false"
    assert earned(merchant) == [(session["payment_intent"], "alice", 10000, 2400, "pending", False)]


def test_the_settings_page_shows_why_an_event_earned_nothing(deliver, merchant_client, merchant, referral, fake_stripe):
    cus = fake_stripe.put(customer(metadata=OFF), account=merchant.stripe_account_id)["id"]
    intent = payment_intent(customer=cus, metadata={"_afficoneRef": referral.rid})
    excluded = deliver("payment_intent.succeeded", intent)
    deliver("customer.updated", customer(id=cus, metadata=OFF))  # a later event: the excluded one is not the last

    response = merchant_client.get(reverse("affiliates:settings"))
    assert response.status_code == 200
    body = response.content.decode()
    row = re.search(rf'<tr data-event="{excluded.stripe_id}">(.*?)</tr>', body, re.S)
    assert row is not None
    assert "excluded: customer metadata afficone=false" in row.group(1)
    assert "payment_intent.succeeded" in row.group(1) and "Processed" in row.group(1)


def test_another_merchants_events_are_not_on_the_settings_page(deliver, client, other_owner, referral):
    excluded = deliver("checkout.session.completed", checkout_session(client_reference_id=referral.rid, metadata=OFF))
    client.force_login(other_owner)
    body = client.get(reverse("affiliates:settings")).content.decode()
    assert excluded.stripe_id not in body and "excluded: Checkout Session" not in body


def test_a_manual_binding_credits_past_payments_by_the_same_test(merchant, affiliate, fake_stripe, account):
    """The backfill of a customer bound by hand reads its past payments from Stripe and leaves out what the webhook
    would: an invoice with afficone=false, an excluded product's line; an excluded customer gets nothing."""
    product(fake_stripe, account, "prod_gift", afficone="false")
    cus = fake_stripe.put(customer(), account=account)["id"]
    sub = new_id("sub")

    def paid(days, **patch):
        return fake_stripe.put(invoice(customer=cus, subscription=sub, paid_at=ts(days), **patch), account=account)

    first = paid(0, billing_reason="subscription_create")
    paid(30, metadata=OFF)
    mixed = paid(
        60,
        amount_paid=5000,
        lines=lines(
            invoice_line(amount=1000, product="prod_gift", price="price_gift"),
            invoice_line(amount=4000, product="prod_pro", price="price_pro"),
        ),
    )
    excluded = fake_stripe.put(customer(metadata=OFF), account=account)["id"]
    fake_stripe.put(invoice(customer=excluded, paid_at=ts(0)), account=account)
    key = create_api_key(merchant, name="backend")[1]
    for customer_id in (cus, excluded):
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = Client().post(
                "/api/v1/referrals",
                {"affiliate": str(affiliate.public_id), "customer": customer_id},
                content_type="application/json",
                headers={"Authorization": f"Bearer {key}"},
            )
        assert response.status_code == 201, response.content
    assert earned(merchant) == sorted(
        [
            (first["id"], "alice", 10000, 2000, "pending", False),
            (mixed["id"], "alice", 5000, 800, "pending", True),  # 20% of the pro line only
        ]
    )
    assert Referral.objects.get(merchant=merchant, stripe_customer_id=excluded).backfill.credited == 0


# --- trials and 100%-off codes ----------------------------------------------------------------------------------


def trial(referral, fake_stripe, account):
    """A 45-day free trial bought at Checkout (nothing paid), its $0 invoice, and three paid invoices: the first 45
    days after the trial started, then 15 and 35 days after that. All are in the merchant's Stripe account."""
    cus, sub = new_id("cus"), new_id("sub")
    session = checkout_session(
        client_reference_id=referral.rid,
        mode="subscription",
        payment_status="no_payment_required",
        amount_subtotal=0,
        amount_total=0,
        customer=cus,
        subscription=sub,
        created=ts(0),
    )

    def paid(days, amount=10000, reason="subscription_cycle"):
        inv = invoice(customer=cus, subscription=sub, amount_paid=amount, paid_at=ts(days), billing_reason=reason)
        return fake_stripe.put(inv, account=account)

    return cus, session, paid(0, 0, "subscription_create"), paid(45), paid(60), paid(80)


@pytest.mark.parametrize("order", ["in order", "newest first"])
def test_a_trial_earns_from_its_first_paid_invoice_and_its_window_opens_there(
    deliver, merchant, referral, fake_stripe, account, order
):
    """Recurring commissions for one month: counted from the trial's start, only a payment within 30 days would
    earn; counted from the first paid invoice (day 45), the payments of days 45 and 60 earn, day 80's does not."""
    update_program(referral.affiliate.program, recurring_months=1)
    cus, session, zero, first, second, late = trial(referral, fake_stripe, account)
    deliver("checkout.session.completed", session)
    assert deliver("invoice.paid", zero).outcome == "earns nothing: a $0 invoice (a trial)"
    referral.refresh_from_db()
    assert referral.stripe_customer_id == cus and referral.first_payment_at is None  # bound; no window yet
    paid = [first, second, late] if order == "in order" else [late, second, first]
    for inv in paid:
        deliver("invoice.paid", inv)
    assert earned(merchant) == sorted(
        [
            (first["id"], "alice", 10000, 2000, "pending", False),  # the customer's first payment
            (second["id"], "alice", 10000, 2000, "pending", True),
        ]
    )
    referral.refresh_from_db()
    assert referral.first_payment_at == START + timedelta(days=45)


def test_a_zero_invoice_before_its_customer_is_bound_waits_for_nothing(deliver, merchant, referral):
    event = deliver(
        "invoice.paid", invoice(customer=new_id("cus"), amount_paid=0, billing_reason="subscription_create")
    )
    assert (event.status, event.outcome) == (StripeEvent.Status.PROCESSED, "earns nothing: a $0 invoice (a trial)")
    assert earned(merchant) == []


@pytest.fixture
def free100(merchant, affiliate, fake_stripe):
    """FREE100, a 100%-off promotion code in the merchant's Stripe account, assigned to the affiliate."""
    code = fake_stripe.put(promotion_code(code="FREE100"), account=merchant.stripe_account_id)
    return PromotionCode.objects.create(merchant=merchant, affiliate=affiliate, stripe_id=code["id"], code="FREE100")


def test_a_100_percent_off_code_at_checkout_binds_the_customer_and_earns_nothing(deliver, merchant, free100):
    cus = new_id("cus")
    session = checkout_session(
        discounts=[{"coupon": new_id("coupon"), "promotion_code": free100.stripe_id}],
        amount_subtotal=10000,
        amount_total=0,
        total_details={"amount_discount": 10000, "amount_tax": 0},
        payment_status="no_payment_required",
        payment_intent=None,
        customer=cus,
    )
    event = deliver("checkout.session.completed", session)
    assert event.outcome == "earns nothing: nothing was paid (a 100%-off discount)"
    assert earned(merchant) == []
    referral = Referral.objects.get(merchant=merchant, stripe_customer_id=cus)
    assert (referral.affiliate_id, referral.source) == (free100.affiliate_id, Referral.Source.PROMOTION_CODE)
    assert referral.first_payment_at is None


def test_a_100_percent_off_code_on_a_subscription_binds_and_its_first_paid_invoice_earns(
    deliver, merchant, free100, fake_stripe, account
):
    """A subscription created through the API with FREE100 for its first month: its $0 invoice names the code only
    as a `di_` id (read back with expand[]=discounts) and binds the customer; the next invoice, paid, earns."""
    cus, sub = new_id("cus"), new_id("sub")
    applied = fake_stripe.put_expandable(discount(promotion_code=free100.stripe_id, customer=cus), account=account)
    zero = invoice(
        customer=cus,
        subscription=sub,
        amount_paid=0,
        billing_reason="subscription_create",
        paid_at=ts(0),
        discounts=[applied["id"]],
        total_discount_amounts=[{"amount": 10000, "discount": applied["id"]}],
    )
    fake_stripe.put(zero, account=account)
    assert deliver("invoice.paid", zero).outcome == "earns nothing: a $0 invoice (a 100%-off discount)"
    referral = Referral.objects.get(merchant=merchant, stripe_customer_id=cus)
    assert (referral.source, referral.stripe_subscription_id) == (Referral.Source.PROMOTION_CODE, sub)
    assert earned(merchant) == []
    renewal = fake_stripe.put(invoice(customer=cus, subscription=sub, paid_at=ts(30)), account=account)
    deliver("invoice.paid", renewal)
    assert earned(merchant) == [(renewal["id"], "alice", 10000, 2000, "pending", False)]


# --- any order, with repeats ------------------------------------------------------------------------------------


def build_scenario(fake_stripe):
    """A fresh merchant (one month of recurring commissions) with affiliates alice and bob, and its events in Stripe's
    order: an excluded customer's subscription, a trial with three paid invoices after it, an invoice with an
    excluded product's line, a PaymentIntent with afficone=false beside one without, and a 100%-off code at
    Checkout. Returns (merchant, events)."""
    merchant = MerchantFactory()
    account = merchant.stripe_account_id
    program = update_program(create_default_program(merchant), recurring_months=1)
    alice = create_affiliate(merchant, email=f"alice-{merchant.pk}@example.net", code="alice")
    bob = create_affiliate(merchant, email=f"bob-{merchant.pk}@example.net", code="bob")
    assert alice.program_id == bob.program_id == program.pk
    r1, r2, r3, r4 = (create_referral(a) for a in (alice, bob, alice, bob))
    events = []

    excluded = fake_stripe.put(customer(metadata=OFF), account=account)["id"]
    sub1 = new_id("sub")
    events.append(
        (
            "checkout.session.completed",
            checkout_session(client_reference_id=r1.rid, mode="subscription", customer=excluded, subscription=sub1),
        )
    )
    in1 = invoice(customer=excluded, subscription=sub1, billing_reason="subscription_create")
    events += [("invoice.paid", in1), ("invoice.payment_succeeded", in1)]

    _, session, zero, first, second, late = trial(r2, fake_stripe, account)
    events += [("checkout.session.completed", session), ("invoice.paid", zero)]
    events += [("invoice.paid", inv) for inv in (first, second, late)]
    events.append(("invoice.payment_succeeded", second))

    product(fake_stripe, account, "prod_gift", **OFF)
    cus3 = new_id("cus")
    events.append(("customer.created", customer(id=cus3, metadata={"_afficoneRef": r3.rid})))
    events.append(
        (
            "invoice.paid",
            invoice(
                customer=cus3,
                subscription=new_id("sub"),
                amount_paid=5000,
                billing_reason="subscription_create",
                lines=lines(
                    invoice_line(amount=1000, product="prod_gift", price="price_gift"),
                    invoice_line(amount=4000, product="prod_pro", price="price_pro"),
                ),
            ),
        )
    )

    events.append(("payment_intent.succeeded", payment_intent(metadata={"_afficoneRef": r4.rid, **OFF})))
    events.append(("payment_intent.succeeded", payment_intent(amount_received=3000, metadata={"_afficoneRef": "BOB"})))

    code = fake_stripe.put(promotion_code(code="FREE100"), account=account)
    PromotionCode.objects.create(merchant=merchant, affiliate=bob, stripe_id=code["id"], code="FREE100")
    events.append(
        (
            "checkout.session.completed",
            checkout_session(
                discounts=[{"coupon": new_id("coupon"), "promotion_code": code["id"]}],
                amount_total=0,
                payment_status="no_payment_required",
                payment_intent=None,
                customer=new_id("cus"),
            ),
        )
    )
    return merchant, [make_event(type, obj, account=account) for type, obj in events]


def outcome(merchant):
    commissions = sorted(
        (c.affiliate.code, c.base_amount, c.amount, c.status, c.is_recurring, c.rule_type)
        for c in Commission.objects.for_merchant(merchant).select_related("affiliate")
    )
    bindings = sorted(
        (r.affiliate.code, r.source)
        for r in Referral.objects.for_merchant(merchant).filter(stripe_customer_id__isnull=False)
    )
    return commissions, bindings


EXPECTED = (
    [
        ("alice", 5000, 800, "pending", False, "mixed"),  # the excluded product's line earns nothing
        ("bob", 3000, 600, "pending", False, "percent"),  # the PaymentIntent without afficone=false
        ("bob", 10000, 2000, "pending", False, "percent"),  # the trial's first paid invoice (day 45)
        ("bob", 10000, 2000, "pending", True, "percent"),  # day 60, inside the month counted from day 45
    ],
    [
        ("alice", "click"),  # the excluded customer, bound
        ("alice", "click"),  # the product-line invoice's customer
        ("bob", "click"),  # the trial's customer
        ("bob", "promotion_code"),  # the 100%-off code's customer
    ],
)


def deliver_all(events):
    client = Client()
    for event in events:
        assert post_event(client, event).status_code == 200


def test_the_scenario_in_order(fake_stripe):
    merchant, events = build_scenario(fake_stripe)
    deliver_all(events)
    assert outcome(merchant) == EXPECTED
    assert not StripeEvent.objects.filter(merchant=merchant).exclude(status=StripeEvent.Status.PROCESSED).exists()


@settings(
    max_examples=int(os.environ.get("ORDERING_EXAMPLES", 8)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_scenario_in_any_order_with_repeats(fake_stripe, data):
    merchant, events = build_scenario(fake_stripe)
    order = data.draw(st.permutations(range(len(events))), label="order")
    repeats = data.draw(
        st.lists(st.tuples(st.sampled_from(range(len(events))), st.integers(0, len(events))), max_size=5),
        label="repeats",
    )
    sequence = [events[i] for i in order]
    for index, position in repeats:  # a redelivery of an event, anywhere (even before the original)
        sequence.insert(position, events[index])
    deliver_all(sequence)
    assert outcome(merchant) == EXPECTED
    assert not StripeEvent.objects.filter(merchant=merchant).exclude(status=StripeEvent.Status.PROCESSED).exists()
