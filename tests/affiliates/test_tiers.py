"""Tiers and bonuses on real Stripe payments: signed events through the real webhook view and the drainer.

An affiliate whose customers reach its program's next-tier threshold moves up (at once, or once the merchant
approves) and gets an email; later payments earn by the new program, earlier ones keep theirs. A bonus is written
once, as its own commission, whatever the repetition or order of events; a refund that takes the results back under
the threshold reverses it (while unpaid), and reaching the threshold again restores the same commission.
"""

import itertools
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Referral, TierPromotion
from affiliates.services import create_program, default_program, record_commission, update_program
from affiliates.services.tiers import BELOW_THRESHOLD, note_results
from stripe_integration.models import StripeEvent
from tests.conftest import wait_for
from tests.factories import ReferralFactory
from tests.stripe_events import charge, checkout_session, customer, invoice, make_event, post_event

pytestmark = pytest.mark.django_db

TWO_CUSTOMERS = {"affiliate_customers_gte": 2}


@pytest.fixture
def deliver(client, merchant):
    def deliver(event):
        assert post_event(client, event).status_code == 200
        stored = StripeEvent.objects.get(stripe_id=event["id"])
        assert stored.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.WAITING), stored.error
        return stored

    return deliver


@pytest.fixture
def gold(merchant):
    return create_program(merchant, name="Gold", commission_bps=3000)


def paid_checkout(merchant, affiliate, amount=10000):
    """A paid Checkout Session of a new customer referred by `affiliate` (its own PaymentIntent), as an event."""
    session = checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid, amount_total=amount)
    return make_event("checkout.session.completed", session, account=merchant.stripe_account_id)


def refund(merchant, checkout_event, refunded=None):
    session = checkout_event["data"]["object"]
    amount = session["amount_total"]
    refunded_charge = charge(
        payment_intent=session["payment_intent"], amount=amount, amount_refunded=refunded or amount
    )
    return make_event("charge.refunded", refunded_charge, account=merchant.stripe_account_id)


def emails_to(address: str) -> list[str]:
    return [message.subject for message in mail.outbox if message.to == [address]]


# --- tiers ------------------------------------------------------------------------------------------------------------


def test_reaching_the_customer_threshold_through_checkout_moves_the_affiliate_up_and_emails_it(
    deliver, merchant, affiliate, gold
):
    basic = update_program(default_program(merchant), next_tier={"program": gold, "when": TWO_CUSTOMERS})
    first, second, third = (paid_checkout(merchant, affiliate) for _ in range(3))

    deliver(first)
    affiliate.refresh_from_db()
    assert affiliate.program == basic
    assert not TierPromotion.objects.exists()

    mail.outbox.clear()
    deliver(second)
    affiliate.refresh_from_db()
    assert affiliate.program == gold
    [promotion] = TierPromotion.objects.for_merchant(merchant)
    assert (promotion.status, promotion.from_program, promotion.to_program) == ("moved", basic, gold)
    assert promotion.reason == "2 customers"
    promoted = [s for s in emails_to(affiliate.email) if "moved up" in s]
    assert promoted == [f"You moved up to Gold at {merchant.name}"]
    body = next(m.body for m in mail.outbox if m.subject == promoted[0])
    assert "you reached 2 customers" in body and "earn 30%" in body

    # What it earned stays; later payments earn by Gold.
    deliver(third)
    amounts = list(Commission.objects.for_merchant(merchant).order_by("pk").values_list("amount", "program__name"))
    assert amounts == [(2000, basic.name), (2000, basic.name), (3000, "Gold")]

    # A redelivery of the crossing payment moves nothing and emails nothing again.
    mail.outbox.clear()
    deliver(dict(second, id=second["id"] + "r"))
    assert TierPromotion.objects.count() == 1
    assert not [s for s in emails_to(affiliate.email) if "moved up" in s]


def test_tiers_chain_and_an_affiliate_moved_back_by_hand_is_not_moved_up_again(deliver, merchant, affiliate, gold):
    platinum = create_program(merchant, name="Platinum", commission_bps=4000)
    update_program(gold, next_tier={"program": platinum, "when": {"affiliate_customers_gte": 3}})
    basic = update_program(default_program(merchant), next_tier={"program": gold, "when": TWO_CUSTOMERS})
    for _ in range(3):
        deliver(paid_checkout(merchant, affiliate))
    affiliate.refresh_from_db()
    assert affiliate.program == platinum
    assert list(TierPromotion.objects.order_by("pk").values_list("to_program__name", flat=True)) == [
        "Gold",
        "Platinum",
    ]

    # The merchant puts it back in Basic: the step Basic → Gold was taken once, so it stays where it was put.
    Affiliate.objects.filter(pk=affiliate.pk).update(program=basic)
    deliver(paid_checkout(merchant, affiliate))
    affiliate.refresh_from_db()
    assert affiliate.program == basic


def test_a_threshold_over_a_period_counts_only_recent_commissions(deliver, merchant, affiliate, gold):
    update_program(default_program(merchant), next_tier={"program": gold, "when": TWO_CUSTOMERS, "period_days": 30})
    deliver(paid_checkout(merchant, affiliate))
    Commission.objects.filter(affiliate=affiliate).update(created_at=timezone.now() - timedelta(days=31))
    deliver(paid_checkout(merchant, affiliate))
    affiliate.refresh_from_db()
    assert affiliate.program.is_default  # one customer in the last 30 days
    deliver(paid_checkout(merchant, affiliate))
    affiliate.refresh_from_db()
    assert affiliate.program == gold


def test_a_revenue_threshold_counts_what_customers_paid_in_its_currency_less_refunds(
    deliver, merchant, affiliate, gold
):
    revenue = {"affiliate_revenue_gte": {"amount": 15000, "currency": "usd"}}
    update_program(default_program(merchant), next_tier={"program": gold, "when": revenue})
    first = paid_checkout(merchant, affiliate, amount=10000)
    deliver(first)
    deliver(refund(merchant, first, refunded=5000))  # 50.00 of revenue left
    deliver(paid_checkout(merchant, affiliate, amount=9000))  # 140.00
    affiliate.refresh_from_db()
    assert affiliate.program.is_default
    deliver(paid_checkout(merchant, affiliate, amount=1000))  # 150.00
    affiliate.refresh_from_db()
    assert affiliate.program == gold


def test_in_approval_mode_the_move_waits_for_the_merchant(deliver, merchant, affiliate, gold):
    basic = update_program(
        default_program(merchant), next_tier={"program": gold, "when": TWO_CUSTOMERS, "mode": "approval"}
    )
    mail.outbox.clear()
    for _ in range(3):
        deliver(paid_checkout(merchant, affiliate))
    affiliate.refresh_from_db()
    assert affiliate.program == basic
    [promotion] = TierPromotion.objects.for_merchant(merchant)
    assert promotion.status == "pending"
    assert not [s for s in emails_to(affiliate.email) if "moved up" in s]


# --- bonuses ----------------------------------------------------------------------------------------------------------

BONUS = {"id": "two", "when": TWO_CUSTOMERS, "bonus": {"amount": 5000, "currency": "usd"}, "label": "Second customer"}


def bonuses_of(affiliate):
    return list(
        Commission.objects.filter(affiliate=affiliate, source_type="bonus").values_list(
            "source_id", "amount", "reversed_amount", "status", "base_amount", "referral"
        )
    )


def test_a_bonus_is_written_once_as_its_own_commission_when_the_threshold_is_crossed(
    deliver, merchant, affiliate, django_capture_on_commit_callbacks
):
    program = update_program(default_program(merchant), bonuses=[BONUS])
    first, second = paid_checkout(merchant, affiliate), paid_checkout(merchant, affiliate)
    deliver(first)
    assert bonuses_of(affiliate) == []
    mail.outbox.clear()
    deliver(second)
    source = f"bonus:{program.public_id}:two:{affiliate.public_id}"
    assert bonuses_of(affiliate) == [(source, 5000, 0, "pending", 0, None)]
    bonus = Commission.objects.get(source_id=source)
    assert (bonus.rule_source, bonus.rule_type, bonus.rule_amount, bonus.program) == ("bonus", "fixed", 5000, program)
    assert bonus.rule_description == "Bonus: $50.00 at 2 customers (Second customer)"
    assert bonus.hold_until > timezone.now() + timedelta(days=29)  # held like the program's other commissions
    assert "$50.00" in " ".join(emails_to(affiliate.email))  # the affiliate hears of it as of any commission

    # The crossing event again (redelivered, or replayed from reconciliation), and a third customer: still one.
    deliver(dict(second, id=second["id"] + "again"))
    deliver(dict(first, id=first["id"] + "again"))
    deliver(paid_checkout(merchant, affiliate))
    assert len(bonuses_of(affiliate)) == 1


def linked_invoice_events(merchant, affiliate):
    """A customer bound to a referral by customer.created, and its paid invoice (which waits for the binding when it
    comes first)."""
    referral = ReferralFactory(affiliate=affiliate)
    cus = customer(metadata={"_afficoneRef": referral.rid})
    paid = invoice(customer=cus["id"], billing_reason="subscription_create")
    account = merchant.stripe_account_id
    return [make_event("customer.created", cus, account=account), make_event("invoice.paid", paid, account=account)]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
def test_the_bonus_is_the_same_whatever_order_the_events_arrive_in(deliver, merchant, affiliate, order):
    program = update_program(default_program(merchant), bonuses=[BONUS])
    events = linked_invoice_events(merchant, affiliate) + linked_invoice_events(merchant, affiliate)
    for i in order:
        deliver(events[i])
    for event in events:  # and every event again
        deliver(dict(event, id=event["id"] + "again"))
    assert not StripeEvent.objects.filter(merchant=merchant, status="waiting").exists()
    source = f"bonus:{program.public_id}:two:{affiliate.public_id}"
    assert bonuses_of(affiliate) == [(source, 5000, 0, "pending", 0, None)]


def test_a_refund_under_the_threshold_reverses_the_bonus_once_and_reaching_it_again_restores_the_same_one(
    deliver, merchant, affiliate
):
    update_program(default_program(merchant), bonuses=[BONUS])
    first, second = paid_checkout(merchant, affiliate), paid_checkout(merchant, affiliate)
    deliver(first)
    deliver(second)
    [(source, *_)] = bonuses_of(affiliate)

    # A full refund of the first payment: one customer left, under the threshold, so the unpaid bonus is reversed.
    deliver(refund(merchant, first))
    assert bonuses_of(affiliate) == [(source, 5000, 5000, "voided", 0, None)]
    assert Commission.objects.get(source_id=source).void_reason == BELOW_THRESHOLD
    # The same refund again (and a partial one reported late) take nothing more.
    deliver(dict(refund(merchant, first), id="evt_refund_again"))
    deliver(refund(merchant, first, refunded=3000))
    assert bonuses_of(affiliate) == [(source, 5000, 5000, "voided", 0, None)]

    # Another customer pays: the threshold is reached again, and the same bonus comes back, not a second one.
    deliver(paid_checkout(merchant, affiliate))
    assert bonuses_of(affiliate) == [(source, 5000, 0, "pending", 0, None)]


def test_a_bonus_already_paid_out_stays_when_a_refund_takes_the_results_back(deliver, merchant, affiliate):
    update_program(default_program(merchant), bonuses=[BONUS])
    first = paid_checkout(merchant, affiliate)
    deliver(first)
    deliver(paid_checkout(merchant, affiliate))
    Commission.objects.filter(source_type="bonus").update(status=Commission.Status.PAID, paid_amount=5000)
    deliver(refund(merchant, first))
    [(_, amount, reversed_amount, status, _, _)] = bonuses_of(affiliate)
    assert (amount, reversed_amount, status) == (5000, 0, "paid")


def _pay(referral_id: int, source_id: str) -> None:
    referral = Referral.objects.select_related("affiliate__program").get(pk=referral_id)
    record_commission(referral, source_type="payment_intent", source_id=source_id, base_amount=10000, currency="usd")


def _someone_waits_for_an_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_two_payments_recorded_at_once_cannot_both_miss_the_threshold(merchant, affiliate):
    """Two workers record the affiliate's first and second customers at the same moment: neither sees the other's
    uncommitted payment, so without the affiliate's lock both would count one customer and no bonus would be written.
    The second waits for the first to commit, then counts two."""
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is Postgres's; SQLite serialises writers anyway")
    update_program(default_program(merchant), bonuses=[BONUS])
    first, second = (ReferralFactory(affiliate=affiliate).pk for _ in range(2))
    recorded, errors = threading.Event(), []

    def other_worker():
        try:
            recorded.wait(timeout=20)
            _pay(second, "pi_second")
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=other_worker)
    worker.start()
    with transaction.atomic():
        _pay(first, "pi_first")
        recorded.set()
        # Commit only once the other payment waits for the affiliate's lock (or is done, if nothing held it back).
        wait_for(lambda: not worker.is_alive() or _someone_waits_for_an_advisory_lock())
    worker.join(timeout=20)
    assert errors == []
    assert Commission.objects.filter(affiliate=affiliate, source_type="payment_intent").count() == 2
    assert len(bonuses_of(affiliate)) == 1


# --- cost -------------------------------------------------------------------------------------------------------------


def test_a_program_without_tiers_or_bonuses_costs_no_query_after_a_commission(merchant, affiliate, gold):
    loaded = Affiliate.objects.select_related("program").get(pk=affiliate.pk)
    with CaptureQueriesContext(connection) as queries:
        note_results(loaded)
    assert len(queries) == 0
    update_program(default_program(merchant), bonuses=[BONUS], next_tier={"program": gold, "when": TWO_CUSTOMERS})
    loaded = Affiliate.objects.select_related("program").get(pk=affiliate.pk)
    with CaptureQueriesContext(connection) as queries:
        note_results(loaded)
    # The affiliate's lock (Postgres only), one aggregate of its results, its bonus rows.
    assert len(queries) == (3 if connection.vendor == "postgresql" else 2)
