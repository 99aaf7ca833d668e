"""Commission rules: what a payment earns (the program's rule or the affiliate's override, once per payment,
nothing for self-referrals, affiliates not approved or payments past the recurring limit), what refunds and
disputes take back, and payouts per affiliate and currency, in exact integer money in every currency."""

from datetime import timedelta

import pytest
from django.utils import timezone

from affiliates import money
from affiliates.models import Affiliate, Commission, CommissionType, Payout, Program
from affiliates.services import (
    AffiliateError,
    apply_refund,
    create_payout_batch,
    hold_commission,
    mark_payout_paid,
    record_commission,
    settle_dispute,
)
from tests.factories import AffiliateFactory, ReferralFactory


@pytest.mark.parametrize(
    "amount, bps, expected",
    [
        (10000, 2000, 2000),  # $100.00 at 20% → $20.00
        (1, 5000, 1),  # half a cent rounds up
        (3, 5000, 2),  # 1.5 → 2
        (1005, 1000, 101),  # 100.5 → 101 (half-up, not banker's)
        (1004, 1000, 100),
        (999, 3333, 333),  # 332.97 → 333
        (0, 2000, 0),
    ],
)
def test_percent_rounds_half_up_in_integers(amount, bps, expected):
    assert money.percent_of(amount, bps) == expected


@pytest.mark.parametrize(
    "amount, currency, text",
    [(123456, "usd", "$1,234.56"), (1234, "jpy", "¥1,234"), (1234, "kwd", "1.234 KWD"), (5, "eur", "€0.05")],
)
def test_format_money_uses_the_currency_minor_unit(amount, currency, text):
    assert money.format_money(amount, currency) == text


def test_parse_major_refuses_more_decimals_than_the_currency_has():
    assert money.parse_major("12.34", "usd") == 1234
    assert money.parse_major("1500", "jpy") == 1500
    assert money.parse_major("1.250", "kwd") == 1250
    with pytest.raises(ValueError):
        money.parse_major("12.5", "jpy")
    with pytest.raises(ValueError):
        money.parse_major("abc", "usd")


def _record(referral, source="pi_1", amount=10000, currency="usd", **kw):
    return record_commission(
        referral,
        source_type=Commission.SourceType.PAYMENT_INTENT,
        source_id=source,
        base_amount=amount,
        currency=currency,
        **kw,
    )


def _commission(referral, source="pi_1", amount=10000, currency="usd", **kw):
    commission, _ = _record(referral, source, amount, currency, **kw)
    return commission


def test_default_program_pays_20_percent_and_records_rule_and_source(affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    commission = _commission(referral, source="pi_abc", amount=4999)
    assert (commission.amount, commission.currency, commission.source_id) == (1000, "usd", "pi_abc")  # 999.8 → 1000
    assert (commission.rule_source, commission.rule_type, commission.rule_bps) == ("program", "percent", 2000)
    assert commission.status == Commission.Status.PENDING
    assert commission.hold_until > timezone.now() + timedelta(days=29)


@pytest.mark.parametrize("currency, paid, expected", [("jpy", 1999, 400), ("kwd", 12345, 2469)])
def test_zero_and_three_decimal_currencies_are_exact(affiliate, currency, paid, expected):
    commission = _commission(ReferralFactory(affiliate=affiliate), amount=paid, currency=currency)
    assert (commission.amount, commission.currency) == (expected, currency)


def test_affiliate_override_beats_the_program(affiliate):
    affiliate.commission_type_override = CommissionType.FIXED
    affiliate.commission_amount_override = 1500
    affiliate.save()
    commission = _commission(ReferralFactory(affiliate=affiliate), amount=100000)
    assert commission.amount == 1500
    assert (commission.rule_source, commission.rule_type, commission.rule_amount) == ("affiliate", "fixed", 1500)


def test_same_source_twice_earns_once(affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    first, first_created = _record(referral, source="pi_same")
    second, second_created = _record(referral, source="pi_same", amount=99999)
    assert first.pk == second.pk and (first_created, second_created) == (True, False)
    assert Commission.objects.filter(source_id="pi_same").count() == 1
    assert Commission.objects.get(source_id="pi_same").amount == 2000


@pytest.mark.parametrize("typed", [str.upper, lambda email: f"  {email}\n"])
def test_self_referral_is_flagged_and_earns_nothing(affiliate, typed):
    commission = _commission(ReferralFactory(affiliate=affiliate), customer_email=typed(affiliate.email))
    assert commission.is_self_referral
    assert commission.amount == 0 and commission.status == Commission.Status.VOIDED
    assert commission.void_reason == "Self-referral: the customer is the affiliate."


@pytest.mark.parametrize("status", [Affiliate.Status.SUSPENDED, Affiliate.Status.PENDING, Affiliate.Status.REJECTED])
def test_affiliates_not_approved_earn_nothing(affiliate, status):
    affiliate.status = status
    affiliate.save()
    assert _commission(ReferralFactory(affiliate=affiliate)) is None
    assert not Commission.objects.exists()


def test_recurring_payments_stop_after_the_programs_limit(affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    start = timezone.now() - timedelta(days=400)
    assert _commission(referral, source="in_1", paid_at=start) is not None
    month = timedelta(days=30)
    assert _commission(referral, source="in_2", paid_at=start + 11 * month, is_recurring=True) is not None
    assert _commission(referral, source="in_13", paid_at=start + timedelta(days=366), is_recurring=True) is None
    assert Commission.objects.filter(referral=referral).count() == 2


def test_refunds_reverse_in_proportion_to_the_cumulative_refund(affiliate):
    commission = _commission(ReferralFactory(affiliate=affiliate), amount=10000)  # earns 2000
    commission = apply_refund(commission, refunded_amount=2500)
    assert commission.reversed_amount == 500 and commission.net_amount == 1500
    commission = apply_refund(commission, refunded_amount=2500)  # the same event again
    assert commission.reversed_amount == 500
    commission = apply_refund(commission, refunded_amount=1000)  # an older, smaller total arriving late
    assert commission.reversed_amount == 500
    commission = apply_refund(commission, refunded_amount=10000)
    assert commission.reversed_amount == 2000 and commission.status == Commission.Status.VOIDED


def test_dispute_holds_then_lost_reverses_won_releases(affiliate):
    lost = hold_commission(_commission(ReferralFactory(affiliate=affiliate), source="pi_lost"))
    won = hold_commission(_commission(ReferralFactory(affiliate=affiliate), source="pi_won"))
    assert lost.is_on_hold and won.is_on_hold
    lost = settle_dispute(lost, won=False)
    won = settle_dispute(won, won=True)
    assert (lost.status, lost.net_amount, lost.is_on_hold) == (Commission.Status.VOIDED, 0, False)
    assert (won.status, won.net_amount, won.is_on_hold) == (Commission.Status.PENDING, 2000, False)


def test_payout_batch_per_affiliate_and_currency_over_the_minimum(merchant, affiliate):
    small = AffiliateFactory(merchant=merchant, program=affiliate.program)
    for n, (aff, amount, currency) in enumerate(
        [(affiliate, 20000, "usd"), (affiliate, 15000, "usd"), (affiliate, 30000, "eur"), (small, 1000, "usd")]
    ):
        c = _commission(ReferralFactory(affiliate=aff), source=f"pi_{n}", amount=amount, currency=currency)
        Commission.objects.filter(pk=c.pk).update(status=Commission.Status.APPROVED)

    batch = create_payout_batch(merchant)

    payouts = {(p.affiliate_id, p.currency): p for p in batch.payouts.all()}
    assert set(payouts) == {(affiliate.pk, "usd"), (affiliate.pk, "eur")}  # `small` is under the $50 minimum
    usd = payouts[(affiliate.pk, "usd")]
    assert usd.amount == 7000 == sum(c.net_amount for c in usd.commissions.all())
    assert create_payout_batch(merchant) is None  # nothing left to pay

    paid = mark_payout_paid(usd, reference="PAYPAL-123")
    assert paid.status == Payout.Status.PAID
    assert set(usd.commissions.values_list("status", flat=True)) == {Commission.Status.PAID}
    with pytest.raises(AffiliateError):
        mark_payout_paid(usd, reference="again")


def test_refund_of_a_commission_in_an_unpaid_payout_adjusts_the_payout(merchant, affiliate):
    a = _commission(ReferralFactory(affiliate=affiliate), source="pi_a", amount=20000)
    b = _commission(ReferralFactory(affiliate=affiliate), source="pi_b", amount=20000)
    Commission.objects.filter(pk__in=[a.pk, b.pk]).update(status=Commission.Status.APPROVED)
    payout = create_payout_batch(merchant).payouts.get()
    assert payout.amount == 8000

    apply_refund(a, refunded_amount=20000)

    payout.refresh_from_db()
    assert payout.amount == 4000 == sum(c.net_amount for c in payout.commissions.all())


def _approved(referral, source, amount=10000, currency="usd"):
    commission = _commission(referral, source=source, amount=amount, currency=currency)
    Commission.objects.filter(pk=commission.pk).update(status=Commission.Status.APPROVED)
    commission.refresh_from_db()
    return commission


def test_a_disputed_commission_leaves_its_unpaid_payout_and_is_not_paid(merchant, affiliate):
    Program.objects.filter(merchant=merchant).update(min_payout_amount=0)
    disputed = _approved(ReferralFactory(affiliate=affiliate), "pi_disputed")
    kept = _approved(ReferralFactory(affiliate=affiliate), "pi_kept")
    payout = create_payout_batch(merchant).payouts.get()
    assert payout.amount == 4000

    hold_commission(disputed)
    mark_payout_paid(payout, reference="PP-1")

    disputed.refresh_from_db()
    kept.refresh_from_db()
    payout.refresh_from_db()
    assert (disputed.status, disputed.payout_id) == (Commission.Status.APPROVED, None)
    assert kept.status == Commission.Status.PAID
    assert payout.amount == 2000 == sum(c.net_amount for c in payout.commissions.all())


def test_a_refund_after_payout_is_deducted_from_the_next_payout(merchant, affiliate):
    Program.objects.filter(merchant=merchant).update(min_payout_amount=0)
    refunded = _approved(ReferralFactory(affiliate=affiliate), "pi_refunded")
    first = create_payout_batch(merchant).payouts.get()
    mark_payout_paid(first, reference="PP-1")

    apply_refund(refunded, refunded_amount=10000)  # the whole payment, after the affiliate was paid 2000
    _approved(ReferralFactory(affiliate=affiliate), "pi_next", amount=15000)  # earns 3000

    second = create_payout_batch(merchant).payouts.get()
    assert (second.amount, second.deducted_amount) == (1000, 2000)
    assert second.amount == sum(c.net_amount for c in second.commissions.all()) - second.deducted_amount
    refunded.refresh_from_db()
    assert first.amount + second.amount == refunded.net_amount + 3000  # paid in all = earned in all


def test_what_is_owed_back_waits_until_earnings_cover_it(merchant, affiliate):
    Program.objects.filter(merchant=merchant).update(min_payout_amount=0)
    refunded = _approved(ReferralFactory(affiliate=affiliate), "pi_refunded")
    mark_payout_paid(create_payout_batch(merchant).payouts.get())
    apply_refund(refunded, refunded_amount=10000)
    _approved(ReferralFactory(affiliate=affiliate), "pi_small", amount=5000)  # earns 1000 < 2000 owed back

    assert create_payout_batch(merchant) is None


def test_the_minimum_payout_is_read_in_each_currencys_own_units(merchant, affiliate):
    Program.objects.filter(merchant=merchant).update(min_payout_amount=5000)  # $50.00
    _approved(ReferralFactory(affiliate=affiliate), "pi_jpy_small", amount=200, currency="jpy")  # ¥40 < ¥50
    assert create_payout_batch(merchant) is None
    _approved(ReferralFactory(affiliate=affiliate), "pi_jpy_more", amount=100, currency="jpy")  # ¥60 in all
    payout = create_payout_batch(merchant).payouts.get()
    assert (payout.amount, payout.currency) == (60, "jpy")
