"""A program's rules on real Stripe payments: signed events through the real webhook view and the drainer, an
invoice's several lines each earning by its product's rule, Checkout's line items read from Stripe's API (the local
fake) only when a rule needs them, and a commission the PaymentIntent wrote first corrected by its Checkout Session."""

import pytest

from affiliates.models import Commission
from affiliates.services import create_program, default_program, move_affiliate, update_program
from stripe_integration.models import StripeEvent
from tests.factories import ReferralFactory
from tests.stripe_events import (
    checkout_item,
    checkout_session,
    customer,
    invoice,
    invoice_line,
    make_event,
    payment_intent,
    post_event,
)

pytestmark = pytest.mark.django_db

RULES = [
    {"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro plan"},
    {"match": {"price": "price_seat"}, "commission": {"type": "fixed", "amount": 500, "currency": "usd"}},
    {"match": {"product": "prod_gift"}, "exclude": True},
]


@pytest.fixture
def program(merchant):
    return update_program(default_program(merchant), rules=RULES)


@pytest.fixture
def deliver(client, merchant):
    def deliver(type, obj):
        event = make_event(type, obj, account=merchant.stripe_account_id)
        assert post_event(client, event).status_code == 200
        stored = StripeEvent.objects.get(stripe_id=event["id"])
        assert stored.status == StripeEvent.Status.PROCESSED, stored.error
        return stored

    return deliver


def _linked_customer(deliver, affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    cus = customer(metadata={"_afficoneRef": referral.rid})
    deliver("customer.created", cus)
    return cus["id"]


@pytest.mark.parametrize("shape", ["new", "old"])
def test_an_invoice_with_several_lines_earns_each_by_its_products_rule(deliver, merchant, program, affiliate, shape):
    lines = [
        invoice_line(amount=4900, product="prod_pro", price="price_pro", shape=shape),
        invoice_line(amount=2000, product="prod_team", price="price_seat", shape=shape),
        invoice_line(amount=1500, product="prod_gift", price="price_gift", shape=shape),
        invoice_line(amount=1600, product="prod_other", price="price_other", shape=shape),
    ]
    paid = invoice(
        shape=shape,
        customer=_linked_customer(deliver, affiliate),
        amount_paid=11000,
        tax=1000,  # 10.00 of tax on 100.00 of items: nothing is commissioned on it
        lines={"data": lines, "has_more": False},
        billing_reason="subscription_create",
    )
    deliver("invoice.paid", paid)

    [commission] = Commission.objects.for_merchant(merchant)
    assert commission.base_amount == 10000
    assert [
        (line["product"], line["base_amount"], line["amount"], line["rule_index"]) for line in commission.lines
    ] == [
        ("prod_pro", 4900, 1470, 0),
        ("prod_team", 2000, 500, 1),
        ("prod_gift", 1500, 0, 2),
        ("prod_other", 1600, 320, None),  # no rule: the program's 20%
    ]
    assert commission.amount == 1470 + 500 + 320
    assert (commission.rule_source, commission.program) == ("lines", program)


def test_a_discount_on_the_whole_invoice_is_shared_out_over_its_lines(deliver, merchant, program, affiliate):
    lines = [
        invoice_line(amount=6000, product="prod_pro", price="price_pro"),
        invoice_line(amount=4000, product="prod_other", price="price_other"),
    ]
    paid = invoice(
        customer=_linked_customer(deliver, affiliate), amount_paid=9000, lines={"data": lines, "has_more": False}
    )
    deliver("invoice.paid", paid)
    [commission] = Commission.objects.for_merchant(merchant)
    assert [line["base_amount"] for line in commission.lines] == [5400, 3600]
    assert commission.amount == 1620 + 720


def test_a_coupon_on_one_line_reduces_that_line(deliver, merchant, program, affiliate):
    lines = [
        invoice_line(amount=6000, product="prod_pro", price="price_pro", discount=3000),
        invoice_line(amount=4000, product="prod_other", price="price_other"),
    ]
    paid = invoice(
        customer=_linked_customer(deliver, affiliate), amount_paid=7000, lines={"data": lines, "has_more": False}
    )
    deliver("invoice.paid", paid)
    [commission] = Commission.objects.for_merchant(merchant)
    assert [line["base_amount"] for line in commission.lines] == [3000, 4000]
    assert commission.amount == 900 + 800


def test_an_invoice_of_an_excluded_product_earns_nothing(deliver, merchant, program, affiliate):
    lines = [invoice_line(amount=2500, product="prod_gift", price="price_gift")]
    paid = invoice(
        customer=_linked_customer(deliver, affiliate), amount_paid=2500, lines={"data": lines, "has_more": False}
    )
    deliver("invoice.paid", paid)
    [commission] = Commission.objects.for_merchant(merchant)
    assert (commission.amount, commission.status, commission.rule_label) == (0, "voided", "rule[2]:exclude")


def test_a_moved_affiliates_next_invoice_earns_by_the_new_program(deliver, merchant, program, affiliate):
    cus = _linked_customer(deliver, affiliate)
    line = [invoice_line(amount=10000, product="prod_pro", price="price_pro")]
    deliver("invoice.paid", invoice(customer=cus, lines={"data": line, "has_more": False}))
    move_affiliate(affiliate, create_program(merchant, name="Flat 10", commission_bps=1000))
    deliver("invoice.paid", invoice(customer=cus, lines={"data": line, "has_more": False}))
    first, second = Commission.objects.for_merchant(merchant).order_by("pk")
    assert (first.amount, first.rule_label, first.program) == (3000, "rule[0]:percent:3000bps", program)
    assert (second.amount, second.rule_label, second.program.name) == (1000, "program:percent:1000bps", "Flat 10")


def test_checkout_reads_its_line_items_from_stripe_when_a_rule_needs_them(
    deliver, merchant, program, affiliate, fake_stripe
):
    session = checkout_session(
        client_reference_id=ReferralFactory(affiliate=affiliate).rid,
        amount_total=7900,
        total_details={"amount_tax": 0, "amount_discount": 0},
    )
    fake_stripe.put_line_items(
        session,
        [
            checkout_item(amount=4900, product="prod_pro", price="price_pro"),
            checkout_item(amount=3000, product="prod_other", price="price_other"),
        ],
        account=merchant.stripe_account_id,
    )
    deliver("checkout.session.completed", session)

    [commission] = Commission.objects.for_merchant(merchant)
    assert commission.amount == 1470 + 600
    assert [line["product"] for line in commission.lines] == ["prod_pro", "prod_other"]
    [request] = fake_stripe.requests_to(f"/v1/checkout/sessions/{session['id']}/line_items")
    assert request.stripe_account == merchant.stripe_account_id


def test_checkout_asks_stripe_nothing_when_no_rule_looks_at_products(deliver, merchant, affiliate, fake_stripe):
    update_program(default_program(merchant), rules=[{"match": {"recurring": True}, "exclude": True}])
    session = checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid, amount_total=5000)
    deliver("checkout.session.completed", session)
    assert Commission.objects.for_merchant(merchant).get().amount == 1000
    assert fake_stripe.requests == []


def test_checkout_corrects_with_its_lines_a_commission_its_payment_intent_wrote(
    deliver, merchant, program, affiliate, fake_stripe
):
    referral = ReferralFactory(affiliate=affiliate)
    session = checkout_session(client_reference_id=referral.rid, amount_total=11000, total_details={"amount_tax": 1000})
    fake_stripe.put_line_items(
        session,
        [checkout_item(amount=10000, product="prod_pro", price="price_pro")],
        account=merchant.stripe_account_id,
    )
    intent = payment_intent(
        id=session["payment_intent"], amount=11000, amount_received=11000, metadata={"_afficoneRef": referral.rid}
    )
    deliver("payment_intent.succeeded", intent)
    written = Commission.objects.for_merchant(merchant).get()
    assert (written.amount, written.rule_source, written.lines) == (2200, "program", [])  # 20% of 110.00: no lines yet

    deliver("checkout.session.completed", session)
    written.refresh_from_db()
    assert (written.base_amount, written.amount, written.rule_label) == (10000, 3000, "rule[0]:percent:3000bps")
    assert written.lines[0]["product"] == "prod_pro"


def test_a_stripe_error_reading_line_items_is_retried_not_guessed(
    deliver, client, merchant, program, affiliate, fake_stripe
):
    session = checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid)
    fake_stripe.put_line_items(
        session,
        [checkout_item(amount=10000, product="prod_pro", price="price_pro")],
        account=merchant.stripe_account_id,
    )
    path = f"/v1/checkout/sessions/{session['id']}/line_items"
    fake_stripe.fail(path, status=500, times=10, should_retry=False)
    event = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status == StripeEvent.Status.FAILED and "An unknown error occurred" in stored.error
    assert stored.attempts == 1  # the sweep tries it again later
    assert not Commission.objects.for_merchant(merchant).exists()


def test_lines_an_invoice_event_leaves_out_earn_the_programs_commission(deliver, merchant, program, affiliate):
    lines = [invoice_line(amount=4000, product="prod_pro", price="price_pro")]
    paid = invoice(
        customer=_linked_customer(deliver, affiliate),
        amount_paid=10000,
        subtotal=10000,
        lines={"data": lines, "has_more": True},  # 60.00 more of lines beyond the event's first page
    )
    deliver("invoice.paid", paid)
    [commission] = Commission.objects.for_merchant(merchant)
    assert [(line["product"], line["base_amount"], line["amount"]) for line in commission.lines] == [
        ("prod_pro", 4000, 1200),
        ("", 6000, 1200),
    ]
