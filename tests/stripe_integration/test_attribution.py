"""Attribution of every checkout kind (Checkout, PaymentIntents, Customers, Payment Links, invoices, refunds, disputes,
cancelled subscriptions): signed events through the real webhook, eager tasks."""

from datetime import UTC, datetime, timedelta

import pytest

from affiliates.models import Affiliate, Commission, Referral
from stripe_integration.models import StripeEvent
from tenants.models import Merchant
from tests.factories import AffiliateFactory, ReferralFactory
from tests.stripe_events import (
    charge,
    checkout_session,
    customer,
    dispute,
    invoice,
    invoice_payment,
    make_event,
    new_id,
    payment_intent,
    post_event,
    subscription,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def referral(affiliate):
    return ReferralFactory(affiliate=affiliate)


@pytest.fixture
def deliver(client, merchant):
    """Posts a signed event for `merchant` through the real view; returns the stored event after processing."""

    def deliver(type, obj, *, account=None):
        event = make_event(type, obj, account=account or merchant.stripe_account_id)
        assert post_event(client, event).status_code == 200
        return StripeEvent.objects.get(stripe_id=event["id"])

    return deliver


def commissions(merchant):
    return list(Commission.objects.for_merchant(merchant).order_by("pk"))


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


# --- one-off payments -----------------------------------------------------------------------------------------------


def test_paid_checkout_session_earns_the_program_rate_on_its_payment_intent(deliver, merchant, referral):
    session = checkout_session(client_reference_id=referral.rid, amount_total=10000)
    event = deliver("checkout.session.completed", session)
    assert event.status == StripeEvent.Status.PROCESSED
    [commission] = commissions(merchant)
    assert (commission.amount, commission.currency, commission.base_amount) == (2000, "usd", 10000)
    assert commission.status == Commission.Status.PENDING
    assert commission.affiliate == referral.affiliate and commission.referral == referral
    assert commission.source_type == Commission.SourceType.PAYMENT_INTENT
    assert commission.source_id == session["payment_intent"] == commission.stripe_payment_intent_id
    assert (commission.rule_source, commission.rule_type, commission.rule_bps) == ("program", "percent", 2000)
    assert commission.hold_until > datetime.now(UTC) + timedelta(days=29)


def test_tax_is_not_commissioned(deliver, merchant, referral):
    session = checkout_session(
        client_reference_id=referral.rid, amount_subtotal=10000, amount_total=11900, total_details={"amount_tax": 1900}
    )
    deliver("checkout.session.completed", session)
    [commission] = commissions(merchant)
    assert (commission.base_amount, commission.amount) == (10000, 2000)


def test_discounted_checkout_earns_on_what_was_paid(deliver, merchant, referral):
    session = checkout_session(
        client_reference_id=referral.rid,
        amount_subtotal=10000,
        amount_total=7500,
        total_details={"amount_discount": 2500, "amount_tax": 0},
    )
    deliver("checkout.session.completed", session)
    assert commissions(merchant)[0].amount == 1500


def test_affiliate_code_is_accepted_as_a_reference(deliver, merchant, affiliate):
    deliver("checkout.session.completed", checkout_session(client_reference_id="ALICE"))
    [commission] = commissions(merchant)
    assert commission.affiliate == affiliate
    assert commission.referral.affiliate == affiliate


def test_unknown_reference_and_no_reference_earn_nothing(deliver, merchant, affiliate):
    assert deliver("checkout.session.completed", checkout_session(client_reference_id="nobody")).status == "processed"
    assert deliver("checkout.session.completed", checkout_session()).status == "processed"
    assert commissions(merchant) == []


def test_another_merchants_referral_id_earns_nothing(deliver, merchant, other_merchant):
    theirs = ReferralFactory(affiliate=AffiliateFactory(merchant=other_merchant, code="alice"))
    deliver("checkout.session.completed", checkout_session(client_reference_id=theirs.rid))
    assert commissions(merchant) == [] and commissions(other_merchant) == []


def test_unpaid_session_waits_for_async_payment_succeeded(deliver, merchant, referral):
    session = checkout_session(client_reference_id=referral.rid, payment_status="unpaid")
    deliver("checkout.session.completed", session)
    assert commissions(merchant) == []
    session["payment_status"] = "paid"
    deliver("checkout.session.async_payment_succeeded", session)
    [commission] = commissions(merchant)
    assert commission.source_id == session["payment_intent"]


def test_checkout_and_its_payment_intent_earn_one_commission(deliver, merchant, referral):
    session = checkout_session(client_reference_id=referral.rid)
    intent = payment_intent(id=session["payment_intent"], metadata={"_afficoneRef": referral.rid})
    deliver("payment_intent.succeeded", intent)
    deliver("checkout.session.completed", session)
    deliver("payment_intent.succeeded", intent)
    assert len(commissions(merchant)) == 1


def test_checkout_corrects_a_commission_its_payment_intent_wrote_first(deliver, merchant, referral):
    session = checkout_session(client_reference_id=referral.rid, amount_total=11900, total_details={"amount_tax": 1900})
    intent = payment_intent(
        id=session["payment_intent"], amount=11900, amount_received=11900, metadata={"_afficoneRef": referral.rid}
    )
    deliver("payment_intent.succeeded", intent)
    assert commissions(merchant)[0].base_amount == 11900  # the PaymentIntent alone does not know the tax
    deliver("checkout.session.completed", session)
    [commission] = commissions(merchant)
    assert (commission.base_amount, commission.amount) == (10000, 2000)


def test_payment_intent_with_reference_earns(deliver, merchant, referral):
    intent = payment_intent(
        amount=5000,
        amount_received=5000,
        currency="eur",
        metadata={"_afficoneRef": referral.rid},
        customer="cus_pi1",
        receipt_email="payer@example.org",
    )
    deliver("payment_intent.succeeded", intent)
    [commission] = commissions(merchant)
    assert (commission.amount, commission.currency, commission.source_id) == (1000, "eur", intent["id"])
    assert commission.stripe_charge_id == intent["latest_charge"]
    referral.refresh_from_db()
    assert referral.stripe_customer_id == "cus_pi1"


def test_payment_intent_without_reference_is_not_ours(deliver, merchant, referral):
    deliver("payment_intent.succeeded", payment_intent())
    assert commissions(merchant) == []


@pytest.mark.parametrize("currency, paid, expected", [("jpy", 1003, 201), ("kwd", 12345, 2469), ("usd", 10003, 2001)])
def test_exact_in_every_currency(deliver, merchant, referral, currency, paid, expected):
    deliver(
        "checkout.session.completed",
        checkout_session(client_reference_id=referral.rid, currency=currency, amount_subtotal=paid, amount_total=paid),
    )
    [commission] = commissions(merchant)
    assert (commission.amount, commission.currency) == (expected, currency)


def test_self_referral_is_flagged_and_earns_nothing(deliver, merchant, referral):
    session = checkout_session(
        client_reference_id=referral.rid, customer_details={"email": referral.affiliate.email.upper()}
    )
    deliver("checkout.session.completed", session)
    [commission] = commissions(merchant)
    assert commission.is_self_referral
    assert commission.amount == 0 and commission.status == Commission.Status.VOIDED


def test_suspended_affiliate_earns_nothing(deliver, merchant, referral):
    Affiliate.objects.filter(pk=referral.affiliate_id).update(status=Affiliate.Status.SUSPENDED)
    deliver("checkout.session.completed", checkout_session(client_reference_id=referral.rid))
    assert commissions(merchant) == []


def test_affiliate_override_is_used_and_recorded(deliver, merchant, referral):
    Affiliate.objects.filter(pk=referral.affiliate_id).update(
        commission_type_override="fixed", commission_amount_override=1500
    )
    deliver("checkout.session.completed", checkout_session(client_reference_id=referral.rid))
    [commission] = commissions(merchant)
    assert commission.amount == 1500
    assert (commission.rule_source, commission.rule_type, commission.rule_amount) == ("affiliate", "fixed", 1500)


# --- customers, subscriptions and invoices --------------------------------------------------------------------------


def subscribe(deliver, referral, **session_patch):
    """A subscription-mode checkout: links the customer and subscription, earns nothing by itself."""
    cus, sub = new_id("cus"), new_id("sub")
    deliver(
        "checkout.session.completed",
        checkout_session(
            client_reference_id=referral.rid, mode="subscription", customer=cus, subscription=sub, **session_patch
        ),
    )
    return cus, sub


def test_subscription_checkout_links_customer_and_leaves_money_to_invoices(deliver, merchant, referral):
    cus, sub = subscribe(deliver, referral)
    referral.refresh_from_db()
    assert (referral.stripe_customer_id, referral.stripe_subscription_id) == (cus, sub)
    assert referral.customer_email == "buyer@example.org"
    assert commissions(merchant) == []
    inv = invoice(customer=cus, subscription=sub, billing_reason="subscription_create")
    deliver("invoice.paid", inv)
    deliver("invoice.payment_succeeded", inv)
    deliver("invoice.paid", inv)
    [commission] = commissions(merchant)
    assert (commission.source_type, commission.source_id, commission.amount) == ("invoice", inv["id"], 2000)
    assert commission.referral == referral and not commission.is_recurring


@pytest.mark.parametrize("shape", ["new", "old"])
def test_both_invoice_shapes_are_read_and_tax_excluded(deliver, merchant, referral, shape):
    cus, sub = subscribe(deliver, referral)
    inv = invoice(
        shape=shape,
        customer=cus,
        subscription=sub,
        amount_paid=12000,
        tax=2000,
        payment_intent=new_id("pi"),
        charge=new_id("ch"),
    )
    deliver("invoice.paid", inv)
    [commission] = commissions(merchant)
    assert (commission.base_amount, commission.amount, commission.is_recurring) == (10000, 2000, True)
    if shape == "old":
        assert commission.stripe_payment_intent_id == inv["payment_intent"]


def test_zero_invoice_is_skipped(deliver, merchant, referral):
    cus, sub = subscribe(deliver, referral, payment_status="no_payment_required")
    deliver(
        "invoice.paid", invoice(customer=cus, subscription=sub, amount_paid=0, billing_reason="subscription_create")
    )
    assert commissions(merchant) == []


def test_trial_customer_links_by_metadata_and_first_link_wins(deliver, merchant, referral):
    other = ReferralFactory(affiliate=AffiliateFactory(merchant=merchant, code="bob"))
    cus = customer(metadata={"_afficoneRef": referral.rid}, email="trial@example.org")
    deliver("customer.created", cus)
    cus["metadata"] = {"_afficoneRef": other.rid}
    deliver("customer.updated", cus)
    assert Referral.objects.get(stripe_customer_id=cus["id"]) == referral
    deliver("invoice.paid", invoice(customer=cus["id"], subscription=new_id("sub")))
    [commission] = commissions(merchant)
    assert commission.referral == referral


def test_invoice_before_the_link_waits_and_is_attributed_when_it_arrives(deliver, merchant, referral):
    cus = customer(metadata={"_afficoneRef": referral.rid})
    inv = invoice(customer=cus["id"], subscription=new_id("sub"))
    parked = deliver("invoice.paid", inv)
    assert (parked.status, parked.waiting_for) == (StripeEvent.Status.WAITING, cus["id"])
    assert commissions(merchant) == []
    deliver("customer.created", cus)
    parked.refresh_from_db()
    assert parked.status == StripeEvent.Status.PROCESSED
    [commission] = commissions(merchant)
    assert commission.source_id == inv["id"]


def test_recurring_commissions_stop_at_the_program_limit(deliver, merchant, referral):
    referral.affiliate.program.recurring_months = 2
    referral.affiliate.program.save()
    start = datetime(2026, 1, 15, 12, tzinfo=UTC)
    cus, sub = subscribe(deliver, referral, created=ts(start))
    for month in range(4):
        paid = start.replace(month=start.month + month) + timedelta(minutes=1)
        deliver(
            "invoice.paid",
            invoice(
                customer=cus,
                subscription=sub,
                paid_at=ts(paid),
                billing_reason="subscription_create" if month == 0 else "subscription_cycle",
            ),
        )
    assert [c.is_recurring for c in commissions(merchant)] == [False, True]


def test_deleted_subscription_stops_recurring_commissions(deliver, merchant, referral):
    start = datetime.now(UTC) - timedelta(days=70)
    cus, sub = subscribe(deliver, referral, created=ts(start))
    deliver(
        "invoice.paid", invoice(customer=cus, subscription=sub, paid_at=ts(start), billing_reason="subscription_create")
    )
    ended = start + timedelta(days=40)
    deliver("customer.subscription.deleted", subscription(id=sub, customer=cus, status="canceled", ended_at=ts(ended)))
    deliver("invoice.paid", invoice(customer=cus, subscription=sub, paid_at=ts(ended + timedelta(days=20))))
    # An invoice paid before the end still counts, whenever its event arrives.
    deliver("invoice.paid", invoice(customer=cus, subscription=sub, paid_at=ts(start + timedelta(days=30))))
    assert len(commissions(merchant)) == 2


# --- refunds and disputes -------------------------------------------------------------------------------------------


def paid_checkout(deliver, referral, **patch):
    session = checkout_session(client_reference_id=referral.rid, **patch)
    deliver("checkout.session.completed", session)
    return session


def test_refunds_reverse_in_proportion_to_the_cumulative_amount(deliver, merchant, referral):
    session = paid_checkout(deliver, referral, amount_total=11000, total_details={"amount_tax": 1000})
    ch = charge(payment_intent=session["payment_intent"], amount=11000, amount_refunded=2750)
    deliver("charge.refunded", ch)
    [commission] = commissions(merchant)
    assert (commission.reversed_amount, commission.status) == (500, Commission.Status.PENDING)
    deliver("charge.refunded", dict(ch, amount_refunded=2750))  # a repeat of the same state changes nothing
    deliver(
        "charge.refunded",
        charge(id=ch["id"], payment_intent=session["payment_intent"], amount=11000, amount_refunded=11000),
    )
    commission.refresh_from_db()
    assert (commission.reversed_amount, commission.net_amount, commission.status) == (2000, 0, Commission.Status.VOIDED)


def test_refund_before_its_commission_is_applied_when_the_commission_appears(deliver, merchant, referral):
    session = checkout_session(client_reference_id=referral.rid)
    parked = deliver("charge.refunded", charge(payment_intent=session["payment_intent"], amount_refunded=5000))
    assert (parked.status, parked.waiting_for) == (StripeEvent.Status.WAITING, session["payment_intent"])
    deliver("checkout.session.completed", session)
    [commission] = commissions(merchant)
    assert commission.reversed_amount == 1000
    parked.refresh_from_db()
    assert parked.status == StripeEvent.Status.PROCESSED


def test_refund_of_a_new_shape_invoice_finds_it_through_invoice_payment(deliver, merchant, referral):
    cus, sub = subscribe(deliver, referral)
    inv = invoice(customer=cus, subscription=sub)
    pi = new_id("pi")
    refund = deliver("charge.refunded", charge(payment_intent=pi, amount_refunded=10000))
    deliver("invoice.paid", inv)
    assert refund.status == StripeEvent.Status.WAITING
    deliver("invoice_payment.paid", invoice_payment(invoice=inv["id"], payment_intent=pi))
    [commission] = commissions(merchant)
    assert (commission.stripe_payment_intent_id, commission.status, commission.net_amount) == (pi, "voided", 0)


def test_dispute_holds_then_lost_reverses(deliver, merchant, referral):
    session = paid_checkout(deliver, referral)
    ch = new_id("ch")
    dp = dispute(charge=ch, payment_intent=session["payment_intent"])
    deliver("charge.dispute.created", dp)
    [commission] = commissions(merchant)
    assert commission.is_on_hold
    deliver("charge.dispute.closed", dict(dp, status="lost"))
    commission.refresh_from_db()
    assert (commission.is_on_hold, commission.status, commission.net_amount) == (False, "voided", 0)


def test_dispute_won_releases(deliver, merchant, referral):
    session = paid_checkout(deliver, referral)
    dp = dispute(charge=new_id("ch"), payment_intent=session["payment_intent"])
    deliver("charge.dispute.created", dp)
    deliver("charge.dispute.closed", dict(dp, status="won"))
    [commission] = commissions(merchant)
    assert (commission.is_on_hold, commission.status, commission.net_amount) == (False, "pending", 2000)


def test_dispute_closing_first_is_not_reopened_by_its_late_creation(deliver, merchant, referral):
    session = paid_checkout(deliver, referral)
    dp = dispute(charge=new_id("ch"), payment_intent=session["payment_intent"])
    deliver("charge.dispute.closed", dict(dp, status="won"))
    deliver("charge.dispute.created", dp)
    assert commissions(merchant)[0].is_on_hold is False


# --- Connect status -------------------------------------------------------------------------------------------------


def test_deauthorized_merchant_keeps_events_but_earns_nothing(deliver, merchant, referral):
    Merchant.objects.filter(pk=merchant.pk).update(stripe_connected_at=datetime.now(UTC) - timedelta(hours=1))
    deliver("account.application.deauthorized", {"id": "ca_test", "object": "application", "name": "Afficone"})
    merchant.refresh_from_db()
    assert merchant.stripe_status == Merchant.StripeStatus.DISCONNECTED
    event = deliver("checkout.session.completed", checkout_session(client_reference_id=referral.rid))
    assert event.merchant == merchant and event.status == StripeEvent.Status.IGNORED
    assert commissions(merchant) == []


def test_events_of_one_merchant_never_touch_another_merchants_commissions(deliver, merchant, other_merchant, referral):
    session = paid_checkout(deliver, referral)
    # Another merchant's account sends a refund, a dispute and an invoice naming this merchant's payment and customer.
    cus, _ = subscribe(deliver, referral)
    theirs = other_merchant.stripe_account_id
    deliver("charge.refunded", charge(payment_intent=session["payment_intent"], amount_refunded=10000), account=theirs)
    deliver(
        "charge.dispute.created", dispute(charge=new_id("ch"), payment_intent=session["payment_intent"]), account=theirs
    )
    deliver("invoice.paid", invoice(customer=cus), account=theirs)
    [commission] = commissions(merchant)
    assert (commission.reversed_amount, commission.is_on_hold, commission.status) == (0, False, "pending")
    assert commissions(other_merchant) == []


def test_refund_of_a_new_shape_invoice_asks_stripe_which_invoice_it_paid(deliver, merchant, referral, fake_stripe):
    cus, sub = subscribe(deliver, referral)
    inv = invoice(customer=cus, subscription=sub)
    pi = new_id("pi")
    fake_stripe.put(invoice_payment(invoice=inv["id"], payment_intent=pi), account=merchant.stripe_account_id)
    # The refund arrives first: Stripe names the invoice, whose own event has not come yet, so the refund waits for it.
    refund = deliver("charge.refunded", charge(payment_intent=pi, customer=cus, amount_refunded=5000))
    assert (refund.status, refund.waiting_for) == (StripeEvent.Status.WAITING, inv["id"])
    deliver("invoice.paid", inv)
    [commission] = commissions(merchant)
    assert (commission.stripe_payment_intent_id, commission.reversed_amount) == (pi, 1000)
    refund.refresh_from_db()
    assert refund.status == StripeEvent.Status.PROCESSED
    asked = fake_stripe.requests_to("/v1/invoice_payments")
    assert len(asked) == 2  # when the refund came, and again when the invoice woke it
    assert {(r.query["payment[payment_intent]"], r.stripe_account) for r in asked} == {(pi, merchant.stripe_account_id)}


def test_refund_of_a_customer_nobody_referred_asks_stripe_nothing(deliver, merchant, referral, fake_stripe):
    parked = deliver("charge.refunded", charge(payment_intent=new_id("pi"), customer=new_id("cus"), amount_refunded=1))
    assert parked.status == StripeEvent.Status.WAITING
    assert fake_stripe.requests_to("/v1/invoice_payments") == []
