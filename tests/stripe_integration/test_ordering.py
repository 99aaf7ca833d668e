"""Order and repetition do not matter, rules included: whatever order Stripe delivers events in, and however often,
the commissions end the same.

The program pays 30% on one product and nothing on another, so invoices earn line by line and Checkout reads its
line items from Stripe's API (the local fake). One scenario touches every handler: Checkout with tax and its own
PaymentIntent event, partial refunds arriving as cumulative states, a free trial linked by customer metadata whose
new-shape invoice is paid, reported twice and disputed and lost, a subscription bought at Checkout with old-shape
invoices that is later cancelled, a PaymentIntent referred by an affiliate code with a dispute that is won, and a
delayed payment that succeeds later. The program is two-tier: alice joined through bob, so bob earns 10% of each of
alice's commissions, and his shares follow them through the reprice and the refunds. Hypothesis delivers its events
through the real webhook in any order, with repeats, and the commissions must be exactly those of the in-order run.
Each example uses a fresh merchant and fresh Stripe ids, so examples do not see each other's rows.

A second scenario does the same for promotion codes and a manual binding: a guest checkout with only a code, a link
and a code that disagree (the program setting drawn too), a subscription bought at Checkout whose invoices may come
before its session, a subscription created through the API with a code, and a customer bound by hand through the API
(its past invoices backfilled from the fake Stripe account) while its invoices also arrive as webhooks, before or
after the binding.
"""

import os
from datetime import UTC, datetime, timedelta

import pytest
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliates.models import Commission, Program
from affiliates.services import (
    create_affiliate,
    create_default_program,
    create_referral,
    default_program,
    set_parent,
    update_program,
)
from affiliates.services.tiers import BELOW_THRESHOLD
from stripe_integration.models import PromotionCode, StripeEvent
from tenants.services import create_api_key
from tests.factories import MerchantFactory
from tests.stripe_events import (
    charge,
    checkout_item,
    checkout_session,
    customer,
    discount,
    dispute,
    invoice,
    invoice_line,
    invoice_payment,
    make_event,
    new_id,
    payment_intent,
    post_event,
    promotion_code,
    subscription,
)

pytestmark = pytest.mark.django_db

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=90)


def ts(days: float) -> int:
    return int((START + timedelta(days=days)).timestamp())


RULES = [
    {"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}},
    {"match": {"product": "prod_gift"}, "exclude": True},
]


def lines(*items) -> dict:
    return {"data": list(items), "has_more": False}


def build_scenario(fake_stripe):
    """A fresh merchant with affiliates alice and bob (alice's parent), and the program's rules, two-tier at 10%; the
    Checkout Sessions' line items are on the fake Stripe.

    Returns (merchant, the events in Stripe's order, {stripe id: name in EXPECTED}).
    """
    merchant = MerchantFactory()
    update_program(create_default_program(merchant), rules=RULES, two_tier=True, two_tier_bps=1000)
    alice = create_affiliate(merchant, email=f"alice-{merchant.pk}@example.net", code="alice")
    bob = create_affiliate(merchant, email=f"bob-{merchant.pk}@example.net", code="bob")
    alice = set_parent(alice, bob)
    r1, r2, r3, r4 = (create_referral(a) for a in (alice, bob, alice, bob))
    ids = {
        k: new_id(k.rstrip("0123456789").lower())
        for k in (
            "pi1",
            "cus2",
            "sub2",
            "in2",
            "pi2",
            "ch2",
            "cus3",
            "sub3",
            "in3",
            "in3b",
            "pi3",
            "pi5",
            "ch5",
            "pi6",
            "cs6",
        )
    }
    names = {v: k for k, v in ids.items()}

    session1 = checkout_session(
        client_reference_id=r1.rid,
        payment_intent=ids["pi1"],
        amount_total=12000,
        total_details={"amount_tax": 2000},
        created=ts(0),
    )
    intent1 = payment_intent(id=ids["pi1"], amount=12000, amount_received=12000, metadata={"_afficoneRef": r1.rid})
    cus2 = customer(id=ids["cus2"], metadata={"_afficoneRef": r2.rid}, email="trial@example.org", created=ts(1))
    in2 = invoice(
        id=ids["in2"],
        customer=ids["cus2"],
        subscription=ids["sub2"],
        amount_paid=5000,
        paid_at=ts(15),
        lines=lines(
            invoice_line(amount=1000, product="prod_gift", price="price_gift"),
            invoice_line(amount=4000, product="prod_pro", price="price_pro"),
        ),
    )
    session3 = checkout_session(
        client_reference_id=r3.rid, mode="subscription", customer=ids["cus3"], subscription=ids["sub3"], created=ts(2)
    )
    in3 = invoice(
        shape="old",
        id=ids["in3"],
        customer=ids["cus3"],
        subscription=ids["sub3"],
        amount_paid=3300,
        tax=300,
        payment_intent=ids["pi3"],
        billing_reason="subscription_create",
        paid_at=ts(2),
        lines=lines(invoice_line(shape="old", amount=3000, product="prod_pro", price="price_pro")),
    )
    in3b = invoice(
        shape="old",
        id=ids["in3b"],
        customer=ids["cus3"],
        subscription=ids["sub3"],
        amount_paid=3300,
        tax=300,
        payment_intent=new_id("pi"),
        paid_at=ts(32),
        lines=lines(invoice_line(shape="old", amount=3000, product="prod_other", price="price_other")),
    )
    intent5 = payment_intent(
        id=ids["pi5"], amount=4000, amount_received=4000, latest_charge=ids["ch5"], metadata={"_afficoneRef": "BOB"}
    )
    dispute5 = dispute(charge=ids["ch5"], payment_intent=ids["pi5"])
    session6 = checkout_session(
        id=ids["cs6"], client_reference_id=r4.rid, payment_intent=ids["pi6"], payment_status="unpaid", amount_total=2500
    )
    account = merchant.stripe_account_id
    fake_stripe.put_line_items(
        session1,
        [
            checkout_item(amount=6000, product="prod_pro", price="price_pro"),
            checkout_item(amount=4000, product="prod_other", price="price_other"),
        ],
        account=account,
    )
    fake_stripe.put_line_items(
        session6, [checkout_item(amount=2500, product="prod_pro", price="price_pro")], account=account
    )

    events = [
        ("checkout.session.completed", session1),
        ("payment_intent.succeeded", intent1),
        ("charge.refunded", charge(payment_intent=ids["pi1"], amount=12000, amount_refunded=3000)),
        ("charge.refunded", charge(payment_intent=ids["pi1"], amount=12000, amount_refunded=6000)),
        ("customer.created", cus2),
        ("invoice.paid", in2),
        ("invoice.payment_succeeded", in2),
        ("invoice_payment.paid", invoice_payment(invoice=ids["in2"], payment_intent=ids["pi2"], amount=5000)),
        ("charge.dispute.created", dispute(charge=ids["ch2"], payment_intent=ids["pi2"])),
        ("charge.dispute.closed", dispute(charge=ids["ch2"], payment_intent=ids["pi2"], status="lost")),
        ("checkout.session.completed", session3),
        ("invoice.paid", in3),
        ("invoice.paid", in3b),
        (
            "customer.subscription.deleted",
            subscription(id=ids["sub3"], customer=ids["cus3"], status="canceled", ended_at=ts(40)),
        ),
        ("payment_intent.succeeded", intent5),
        ("charge.dispute.created", dispute5),
        ("charge.dispute.closed", dict(dispute5, status="won")),
        ("checkout.session.completed", session6),
        ("checkout.session.async_payment_succeeded", dict(session6, payment_status="paid")),
    ]
    # The same dispute id in created and closed, as Stripe sends them.
    events[9][1]["id"] = events[8][1]["id"]
    return merchant, [make_event(type, obj, account=merchant.stripe_account_id) for type, obj in events], names


def outcome(merchant, names):
    """The payments' commissions (bonuses are `bonus_outcome`'s); a parent's two-tier share is named after its
    child's source ("tier:pi1")."""
    rows = list(Commission.objects.for_merchant(merchant).exclude(source_type="bonus").select_related("affiliate"))
    by_id = {str(c.public_id): names.get(c.source_id, c.source_id) for c in rows}

    def source(c) -> str:
        if c.source_type == Commission.SourceType.TWO_TIER:
            return "tier:" + by_id[c.source_id.removeprefix("two_tier:")]
        return names.get(c.source_id, c.source_id)

    return sorted(
        (
            source(c),
            c.affiliate.code,
            c.base_amount,
            c.amount,
            c.reversed_amount,
            c.status,
            c.is_on_hold,
            c.is_recurring,
        )
        for c in rows
    )


EXPECTED = [
    # source, affiliate, base, amount, reversed, status, on hold, recurring
    ("in2", "bob", 5000, 1200, 1200, "voided", False, True),  # trial invoice (gift excluded, 30% of pro), dispute lost
    ("in3", "alice", 3000, 900, 0, "pending", False, False),  # first invoice, tax excluded, 30% of pro
    ("in3b", "alice", 3000, 600, 0, "pending", False, True),  # renewal of another product (20%) before cancelling
    ("pi1", "alice", 10000, 2600, 1300, "pending", False, False),  # Checkout with tax (30% + 20%), half refunded
    ("pi5", "bob", 4000, 800, 0, "pending", False, False),  # by affiliate code, no line items: 20%, dispute won
    ("pi6", "bob", 2500, 750, 0, "pending", False, False),  # delayed payment method, 30% of pro
    # bob's 10% of alice's commissions: base 0, reversed in the same proportion as the child's
    ("tier:in3", "bob", 0, 90, 0, "pending", False, False),
    ("tier:in3b", "bob", 0, 60, 0, "pending", False, True),
    ("tier:pi1", "bob", 0, 260, 130, "pending", False, False),
]


def deliver(client, events):
    for event in events:
        assert post_event(client, event).status_code == 200


def test_in_order_run_gives_the_expected_commissions(client, fake_stripe):
    merchant, events, names = build_scenario(fake_stripe)
    deliver(client, events)
    assert outcome(merchant, names) == EXPECTED
    assert not StripeEvent.objects.filter(merchant=merchant, status__in=["waiting", "failed", "pending"]).exists()


# About 2 s an example on a busy 2-core machine; raise ORDERING_EXAMPLES for a deeper search.
@settings(
    max_examples=int(os.environ.get("ORDERING_EXAMPLES", 12)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_order_with_repeats_gives_the_in_order_commissions(client, fake_stripe, data):
    merchant, events, names = build_scenario(fake_stripe)
    order = data.draw(st.permutations(range(len(events))), label="order")
    repeats = data.draw(
        st.lists(st.tuples(st.sampled_from(range(len(events))), st.integers(0, len(events))), max_size=6),
        label="repeats",
    )
    sequence = [events[i] for i in order]
    for index, position in repeats:  # a redelivery of an event, anywhere (even before the original)
        sequence.insert(position, events[index])
    deliver(client, sequence)
    assert outcome(merchant, names) == EXPECTED
    assert not StripeEvent.objects.filter(merchant=merchant, status__in=["waiting", "failed", "pending"]).exists()


# --- bonuses ------------------------------------------------------------------------------------------------------
#
# The same scenario with bonuses on the program. In the end alice has 2 customers and 110.00 of revenue (pi1 half
# refunded, in3, in3b); bob 2 customers (in2's dispute was lost) and 65.00. On the way, depending on the order, bob
# may have had 3 customers and alice 160.00 or more: a bonus reached only then is reversed when the refund or the lost
# dispute arrives (and, reached again, restored), so what the bonuses are worth in the end is the same in any order.

BONUS_7500 = {"amount": 7500, "currency": "usd"}
BONUSES = [
    {"id": "two", "when": {"affiliate_customers_gte": 2}, "bonus": {"amount": 5000, "currency": "usd"}},
    {"id": "three", "when": {"affiliate_customers_gte": 3}, "bonus": {"amount": 10000, "currency": "usd"}},
    {"id": "rev100", "when": {"affiliate_revenue_gte": {"amount": 10000, "currency": "usd"}}, "bonus": BONUS_7500},
    {"id": "rev120", "when": {"affiliate_revenue_gte": {"amount": 12000, "currency": "usd"}}, "bonus": BONUS_7500},
]
BONUS_EXPECTED = [
    # bonus, affiliate, amount, reversed, status
    ("rev100", "alice", 7500, 0, "pending"),
    ("two", "alice", 5000, 0, "pending"),
    ("two", "bob", 5000, 0, "pending"),
]


def build_bonus_scenario(fake_stripe):
    merchant, events, names = build_scenario(fake_stripe)
    update_program(default_program(merchant), bonuses=BONUSES)
    return merchant, events, names


def bonus_outcome(merchant):
    """The bonuses worth something, by name; one reversed because the results fell back is as if never earned (and
    at most one row per bonus and affiliate exists in any case: the unique source)."""
    rows = Commission.objects.for_merchant(merchant).filter(source_type="bonus").select_related("affiliate")
    keys = [(c.source_id.split(":")[2], c.affiliate.code) for c in rows]
    assert len(keys) == len(set(keys))
    return sorted(
        (c.source_id.split(":")[2], c.affiliate.code, c.amount, c.reversed_amount, c.status)
        for c in rows
        if c.void_reason != BELOW_THRESHOLD
    )


def test_bonuses_in_order_are_the_expected_ones(client, fake_stripe):
    merchant, events, names = build_bonus_scenario(fake_stripe)
    deliver(client, events)
    assert outcome(merchant, names) == EXPECTED
    assert bonus_outcome(merchant) == BONUS_EXPECTED


@settings(
    max_examples=int(os.environ.get("ORDERING_EXAMPLES", 12)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_bonuses_in_any_order_with_repeats_are_the_in_order_ones(client, fake_stripe, data):
    merchant, events, names = build_bonus_scenario(fake_stripe)
    order = data.draw(st.permutations(range(len(events))), label="order")
    repeats = data.draw(
        st.lists(st.tuples(st.sampled_from(range(len(events))), st.integers(0, len(events))), max_size=6),
        label="repeats",
    )
    sequence = [events[i] for i in order]
    for index, position in repeats:
        sequence.insert(position, events[index])
    deliver(client, sequence)
    assert outcome(merchant, names) == EXPECTED
    assert bonus_outcome(merchant) == BONUS_EXPECTED
    assert not StripeEvent.objects.filter(merchant=merchant, status__in=["waiting", "failed", "pending"]).exists()


# --- promotion codes and manual bindings --------------------------------------------------------------------------


def build_code_scenario(fake_stripe, *, codes_first: bool):
    """A fresh merchant whose Stripe account (the fake) holds what its events name: alice refers by link, bob holds
    the promotion code BOB20, carol is given an existing customer by hand.

    Returns (merchant, the actions in Stripe's order: ("event", event) or ("bind", (affiliate, customer id)),
    {stripe id: name in CODE_EXPECTED}).
    """
    merchant = MerchantFactory()
    program = create_default_program(merchant)
    Program.objects.filter(pk=program.pk).update(promotion_codes_first=codes_first)
    account = merchant.stripe_account_id
    alice = create_affiliate(merchant, email=f"alice-{merchant.pk}@example.net", code="alice")
    bob = create_affiliate(merchant, email=f"bob-{merchant.pk}@example.net", code="bob")
    carol = create_affiliate(merchant, email=f"carol-{merchant.pk}@example.net", code="carol")
    bob20 = fake_stripe.put(promotion_code(code="BOB20"), account=account)
    PromotionCode.objects.create(merchant=merchant, affiliate=bob, stripe_id=bob20["id"], code="BOB20")
    r1, r2 = create_referral(alice), create_referral(alice)
    ids = {k: new_id(k.rstrip("0123456789").lower()) for k in ("pia", "pib", "cusc", "subc", "cusd", "subd")}
    names = {v: k for k, v in ids.items()}
    used = [{"coupon": bob20["promotion"]["coupon"], "promotion_code": bob20["id"]}]

    def applied(customer_id: str) -> str:
        return fake_stripe.put_expandable(discount(promotion_code=bob20["id"], customer=customer_id), account=account)[
            "id"
        ]

    def stored_invoice(name: str, **patch) -> dict:
        obj = fake_stripe.put(invoice(**patch), account=account)
        names[obj["id"]] = name
        return obj

    # a: a guest checkout with bob's code only; b: alice's link and bob's code.
    session_a = checkout_session(payment_intent=ids["pia"], discounts=used)
    session_b = checkout_session(payment_intent=ids["pib"], client_reference_id=r1.rid, discounts=used)
    # c: a subscription bought at Checkout with alice's link and bob's code; its first invoice carries the discount.
    session_c = fake_stripe.put(
        checkout_session(
            mode="subscription",
            client_reference_id=r2.rid,
            customer=ids["cusc"],
            subscription=ids["subc"],
            discounts=used,
            created=ts(1),
        ),
        account=account,
    )
    c1 = stored_invoice(
        "inc1",
        customer=ids["cusc"],
        subscription=ids["subc"],
        billing_reason="subscription_create",
        discounts=[applied(ids["cusc"])],
        paid_at=ts(1),
    )
    c2 = stored_invoice("inc2", customer=ids["cusc"], subscription=ids["subc"], paid_at=ts(31))
    # d: a subscription created through the API with bob's code: no Checkout Session, no referral id anywhere.
    sub_d = fake_stripe.put(
        subscription(id=ids["subd"], customer=ids["cusd"], discounts=[applied(ids["cusd"])]), account=account
    )
    d1 = stored_invoice(
        "ind1",
        customer=ids["cusd"],
        subscription=ids["subd"],
        billing_reason="subscription_create",
        discounts=sub_d["discounts"],
        paid_at=ts(2),
    )
    d2 = stored_invoice("ind2", customer=ids["cusd"], subscription=ids["subd"], paid_at=ts(32))
    # e: a customer nobody referred, with three paid invoices (each paid by a PaymentIntent its invoice_payment
    # names), bound to carol by hand; the last two also arrive as webhooks, before or after the binding.
    cus_e = fake_stripe.put(customer(email="erin@example.org"), account=account)
    sub_e = new_id("sub")
    paid_e = []
    for month, name in enumerate(("ine1", "ine2", "ine3")):
        intent = new_id("pi")
        reason = "subscription_create" if month == 0 else "subscription_cycle"
        paid = stored_invoice(
            name, customer=cus_e["id"], subscription=sub_e, billing_reason=reason, paid_at=ts(5 + 30 * month)
        )
        fake_stripe.put(
            charge(customer=cus_e["id"], payment_intent=intent, created=ts(5 + 30 * month)), account=account
        )
        fake_stripe.put(invoice_payment(invoice=paid["id"], payment_intent=intent), account=account)
        paid_e.append(paid)

    actions = [
        ("event", ("checkout.session.completed", session_a)),
        ("event", ("checkout.session.completed", session_b)),
        ("event", ("checkout.session.completed", session_c)),
        ("event", ("invoice.paid", c1)),
        ("event", ("invoice.paid", c2)),
        ("event", ("customer.subscription.created", sub_d)),
        ("event", ("invoice.paid", d1)),
        ("event", ("invoice.paid", d2)),
        ("bind", (carol, cus_e["id"])),
        ("event", ("invoice.paid", paid_e[1])),
        ("event", ("invoice.paid", paid_e[2])),
    ]
    actions = [(kind, make_event(*what, account=account) if kind == "event" else what) for kind, what in actions]
    return merchant, actions, names


def code_expected(codes_first: bool) -> list:
    """Where alice's link and bob's code disagree (b, c), the program decides; everything else is fixed."""
    disputed = "bob" if codes_first else "alice"
    return sorted(
        [
            # source, affiliate, base, amount, reversed, status, on hold, recurring
            ("inc1", disputed, 10000, 2000, 0, "pending", False, False),
            ("inc2", disputed, 10000, 2000, 0, "pending", False, True),
            ("ind1", "bob", 10000, 2000, 0, "pending", False, False),
            ("ind2", "bob", 10000, 2000, 0, "pending", False, True),
            ("ine1", "carol", 10000, 2000, 0, "pending", False, False),  # backfilled
            ("ine2", "carol", 10000, 2000, 0, "pending", False, True),
            ("ine3", "carol", 10000, 2000, 0, "pending", False, True),
            ("pia", "bob", 10000, 2000, 0, "pending", False, False),  # the code alone
            ("pib", disputed, 10000, 2000, 0, "pending", False, False),
        ]
    )


def run(client, merchant, actions):
    key = create_api_key(merchant, name="ordering")[1]
    for kind, what in actions:
        if kind == "event":
            assert post_event(client, what).status_code == 200
            continue
        affiliate, customer_id = what
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post(
                "/api/v1/referrals",
                {"affiliate": str(affiliate.public_id), "customer": customer_id},
                content_type="application/json",
                headers={"Authorization": f"Bearer {key}"},
            )
        assert response.status_code in (201, 409)  # a repeated binding is refused and changes nothing


@pytest.mark.parametrize("codes_first", [False, True])
def test_codes_and_a_manual_binding_in_order_give_the_expected_commissions(client, fake_stripe, codes_first):
    merchant, actions, names = build_code_scenario(fake_stripe, codes_first=codes_first)
    run(client, merchant, actions)
    assert outcome(merchant, names) == code_expected(codes_first)
    assert not StripeEvent.objects.filter(merchant=merchant, status__in=["waiting", "failed", "pending"]).exists()


@settings(
    max_examples=int(os.environ.get("ORDERING_EXAMPLES", 12)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_codes_and_a_manual_binding_in_any_order_give_the_in_order_commissions(client, fake_stripe, data):
    codes_first = data.draw(st.booleans(), label="codes_first")
    merchant, actions, names = build_code_scenario(fake_stripe, codes_first=codes_first)
    order = data.draw(st.permutations(range(len(actions))), label="order")
    repeats = data.draw(
        st.lists(st.tuples(st.sampled_from(range(len(actions))), st.integers(0, len(actions))), max_size=4),
        label="repeats",
    )
    sequence = [actions[i] for i in order]
    for index, position in repeats:
        sequence.insert(position, actions[index])
    run(client, merchant, sequence)
    assert outcome(merchant, names) == code_expected(codes_first)
    assert not StripeEvent.objects.filter(merchant=merchant, status__in=["waiting", "failed", "pending"]).exists()
