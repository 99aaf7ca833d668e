"""Commissions: the rule, the amount, and everything that later changes it (refunds, disputes, approval)."""

import calendar
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from afficone import rawsql

from .. import money
from ..models import Affiliate, Commission, CommissionType, Program, Referral, RuleSource
from ..rules import Line
from ..signals import commission_created, commission_updated, send_for, send_on_commit
from .errors import AffiliateError
from .notices import commission_recorded
from .payouts import resettle_pending_payout
from .pricing import commission_rule, excluded_reason, price_payment, pricing_fields
from .tiers import note_results
from .two_tier import follow_sub_affiliate, record_two_tier_commission

# --- commissions --------------------------------------------------------------------------------------------------

SELF_REFERRAL_REASON = "Self-referral: the customer is the affiliate."


def within_recurring_limit(referral: Referral, program: Program, paid_at: datetime) -> bool:
    if referral.subscription_ended_at is not None and paid_at > referral.subscription_ended_at:
        return False
    if referral.first_payment_at is None or program.recurring_months is None:
        return True
    if program.recurring_months == 0:
        return False
    # "12 months" = payments made before the 12th monthly anniversary of the first payment, so a monthly plan earns
    # 12 commissions; an hour's grace absorbs billing drift without admitting the 13th.
    return paid_at < add_months(referral.first_payment_at, program.recurring_months) - timedelta(hours=1)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def record_commission(
    referral: Referral,
    *,
    source_type: str,
    source_id: str,
    base_amount: int,
    currency: str,
    paid_at: datetime | None = None,
    customer_email: str = "",
    is_recurring: bool = False,
    stripe_payment_intent_id: str = "",
    stripe_charge_id: str = "",
    stripe_invoice_id: str = "",
    lines: Sequence[Line] = (),
) -> tuple[Commission | None, bool]:
    """Writes the commission a payment earns, once; returns (commission, created), as get_or_create does.

    Idempotency key: (merchant, source_id), a unique constraint; a second
    call for the same source returns the existing row unchanged, with created
    False. Returns (None, False) when nothing is earned and nothing was
    recorded before: the affiliate is not approved (suspended affiliates earn
    nothing), the payment is zero, or a recurring payment falls outside the
    program's recurring limit. The affiliate's program (at the time of the
    payment) decides with its rules, line by line when `lines` lists the
    payment's line items; the program and the deciding rule are recorded. A
    payment the rules exclude is stored voided with amount 0 (so a later
    event about the same payment finds it), and so is a self-referral (the
    customer's email is the affiliate's), flagged. Where the program is
    two-tier, the affiliate's parent gets its share in the same transaction
    (two_tier.py). Then the affiliate's tiers and bonuses follow its results
    (services/tiers.py).
    """
    merchant_id = referral.merchant_id
    if is_recurring or not _is_loaded(referral):
        # Fresh, with its affiliate and program in one query: another payment of the same customer may just have set
        # first_payment_at, which decides the recurring window (callers hold the customer's lock).
        referral = Referral.objects.select_related("affiliate__program").get(pk=referral.pk)
    affiliate = referral.affiliate
    program = affiliate.program
    paid_at = paid_at or timezone.now()
    earns = affiliate.is_approved and base_amount > 0
    if not earns or (is_recurring and not within_recurring_limit(referral, program, paid_at)):
        return Commission.objects.filter(merchant_id=merchant_id, source_id=source_id).first(), False
    pricing = price_payment(
        affiliate, base_amount=base_amount, currency=currency, lines=lines, is_recurring=is_recurring, referral=referral
    )
    is_self = affiliate.is_self_referral(customer_email)
    now = timezone.now()
    fields = pricing_fields(pricing, program, commission_rule(affiliate), lines_known=bool(lines))
    if is_self:
        fields.update(amount=0)
    commission = Commission(
        merchant_id=merchant_id,
        affiliate=affiliate,
        referral=referral,
        base_amount=base_amount,
        source_type=source_type,
        source_id=source_id,
        stripe_payment_intent_id=stripe_payment_intent_id or "",
        stripe_charge_id=stripe_charge_id or "",
        stripe_invoice_id=stripe_invoice_id or "",
        **fields,
        is_recurring=is_recurring,
        is_self_referral=is_self,
        hold_until=now + timedelta(days=program.hold_days),
    )
    if is_self or pricing.is_excluded:
        commission.status = Commission.Status.VOIDED
        commission.voided_at = now
        commission.void_reason = SELF_REFERRAL_REASON if is_self else excluded_reason(pricing, program)
    with transaction.atomic(savepoint=False):
        # One statement, no savepoint: the unique (merchant, source) decides.
        if not rawsql.insert_unless_exists(commission, ["merchant_id", "source_id"]):
            # Recorded before (a redelivery, or another worker's event for the same payment): theirs stands.
            return Commission.objects.get(merchant_id=merchant_id, source_id=source_id), False
        _note_payment(referral, paid_at=paid_at, now=now)
        send_for(commission_created, commission)
        share = record_two_tier_commission(commission, affiliate=affiliate, program=program)
    if not is_self and commission.amount > 0:
        transaction.on_commit(lambda: commission_recorded(commission.pk))
    if share is not None:
        transaction.on_commit(lambda: commission_recorded(share.pk))
    if commission.status != Commission.Status.VOIDED:
        note_results(affiliate)  # tiers and bonuses: no query for a program without them
    return commission, True


def _follow_two_tier(commission: Commission, *, may_create: bool = False) -> None:
    """The parent's share follows a change to `commission` (two_tier.py); a share written now is emailed too."""
    share, created = follow_sub_affiliate(commission, may_create=may_create)
    if created and share is not None:
        transaction.on_commit(lambda: commission_recorded(share.pk))


def _note_payment(referral: Referral, *, paid_at: datetime, now: datetime) -> None:
    """The earliest payment opens the recurring window, whichever of them arrives first; the first conversion stays.

    One hand-written UPDATE (every payment runs it): first_payment_at = LEAST(first_payment_at, paid_at), with
    COALESCE because SQLite's MIN answers NULL for a NULL where Postgres' LEAST skips it. The same statement through
    the ORM (`.update()` with Least and Coalesce) costs the worker several times the CPU: bench/note_payment.py
    measures both (README, "Benchmarks", has the figures).
    """
    qn = connection.ops.quote_name
    least = "LEAST" if connection.vendor == "postgresql" else "MIN"
    field = Referral._meta.get_field("first_payment_at")
    paid, converted = (field.get_db_prep_save(value, connection) for value in (paid_at, now))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(Referral._meta.db_table)} SET first_payment_at = {least}(COALESCE(first_payment_at, %s), %s), "
            f"converted_at = COALESCE(converted_at, %s) WHERE id = %s",
            [paid, paid, converted, referral.pk],
        )


def _is_loaded(referral: Referral) -> bool:
    """Whether `referral` came with its affiliate and program (select_related), so they need not be read again."""
    return Referral.affiliate.is_cached(referral) and Affiliate.program.is_cached(referral.affiliate)


RULE_FIELDS = ("rule_source", "rule_type", "rule_bps", "rule_amount", "rule_index")


@transaction.atomic
def reprice_commission(
    commission: Commission,
    *,
    base_amount: int,
    customer_email: str = "",
    lines: Sequence[Line] = (),
    currency: str = "",
) -> tuple[Commission, bool]:
    """A more exact account of a payment already commissioned: Checkout knows the tax, the customer's email and the
    line items that the PaymentIntent it created does not, so `checkout.session.completed` corrects a commission
    first written from `payment_intent.succeeded`, and the result does not depend on which event came first.

    Returns (commission, changed). When changed, the commission is as if just written: refunds and disputes already
    applied to the old amount are cleared, and the caller re-applies them (they are idempotent). A commission that is
    paid, in a payout, voided by the merchant or already flagged as a self-referral is left alone. When the
    affiliate's program, computing the payment as it was recorded, still gives the recorded rule, the commission is
    computed afresh (rules, lines and all) as `record_commission` would write it; otherwise (the affiliate moved, or
    the rules changed in between) the recorded rule stands: a fixed amount is kept, anything else is scaled.
    """
    commission = (
        Commission.objects.select_for_update(of=("self",))
        .select_related("affiliate__program", "referral")
        .get(pk=commission.pk)
    )
    affiliate, program = commission.affiliate, commission.affiliate.program
    currency = (currency or commission.currency).lower()
    is_self = affiliate.is_self_referral(customer_email)
    voided_by_merchant = (
        commission.status == Commission.Status.VOIDED and commission.reversed_amount < commission.amount
    )
    new_lines = bool(lines) and not commission.lines
    if (
        commission.status == Commission.Status.PAID
        or commission.payout_id is not None
        or voided_by_merchant
        or commission.is_self_referral
        or base_amount <= 0
        or (base_amount == commission.base_amount and not is_self and not new_lines)
    ):
        return commission, False
    recorded_lines = [
        Line(
            amount=line["base_amount"],
            product=line["product"],
            price=line["price"],
            excluded=line["rule_source"] == RuleSource.METADATA,
        )
        for line in commission.lines
    ]
    pricing_kw = dict(currency=currency, is_recurring=commission.is_recurring, referral=commission.referral)
    then = price_payment(affiliate, base_amount=commission.base_amount, lines=recorded_lines, **pricing_kw)
    still = (
        commission.program_id in (None, program.pk)
        and then.currency == commission.currency
        and then.commission_fields() == {name: getattr(commission, name) for name in RULE_FIELDS}
    )
    updates: dict = dict(
        base_amount=base_amount,
        refunded_amount=0,
        reversed_amount=0,
        is_on_hold=False,
        status=Commission.Status.APPROVED
        if commission.status == Commission.Status.APPROVED
        else Commission.Status.PENDING,
        voided_at=None,
        void_reason="",
    )
    if still:
        pricing = price_payment(affiliate, base_amount=base_amount, lines=lines or recorded_lines, **pricing_kw)
        updates.update(
            pricing_fields(pricing, program, commission_rule(affiliate), lines_known=bool(lines or recorded_lines))
        )
        if pricing.is_excluded:
            updates.update(
                status=Commission.Status.VOIDED, voided_at=timezone.now(), void_reason=excluded_reason(pricing, program)
            )
    elif commission.rule_type == CommissionType.FIXED:
        updates["amount"] = commission.amount
    else:
        updates["amount"] = money.proportion(commission.amount, base_amount, commission.base_amount)
    if is_self:
        updates.update(
            amount=0,
            is_self_referral=True,
            status=Commission.Status.VOIDED,
            voided_at=timezone.now(),
            void_reason=SELF_REFERRAL_REASON,
        )
    Commission.objects.filter(pk=commission.pk).update(**updates)
    commission.refresh_from_db()
    note_results(affiliate)
    send_for(commission_updated, commission)
    _follow_two_tier(commission, may_create=True)
    return commission, True


@transaction.atomic
def apply_refund(commission: Commission, *, refunded_amount: int) -> Commission:
    """Takes back the share of the commission that `refunded_amount` (cumulative) is of the payment.

    Idempotent and order-proof: the reversal only grows, to
    `amount * refunded / base`, rounded half-up; a full refund voids the
    commission unless it has already been paid out.
    """
    # With its affiliate and program (one join, no further query): the results the bonuses follow may fall.
    commission = (
        Commission.objects.select_for_update(of=("self",)).select_related("affiliate__program").get(pk=commission.pk)
    )
    affiliate = commission.affiliate
    refunded = min(max(refunded_amount, commission.refunded_amount), commission.base_amount)
    reversed_amount = max(
        commission.reversed_amount, money.proportion(commission.amount, refunded, commission.base_amount)
    )
    updates = {"refunded_amount": refunded, "reversed_amount": min(reversed_amount, commission.amount)}
    if refunded >= commission.base_amount and commission.status in (
        Commission.Status.PENDING,
        Commission.Status.APPROVED,
    ):
        updates.update(
            status=Commission.Status.VOIDED, voided_at=timezone.now(), void_reason="Payment refunded in full."
        )
    Commission.objects.filter(pk=commission.pk).update(**updates)
    commission.refresh_from_db()
    if commission.payout_id is not None:
        resettle_pending_payout(commission.payout_id)
        commission.refresh_from_db()
    note_results(affiliate)
    send_for(commission_updated, commission)
    _follow_two_tier(commission)
    return commission


@transaction.atomic
def hold_commission(commission: Commission) -> Commission:
    """A dispute was opened: the commission is not approved or paid while it is open (it leaves an unpaid payout)."""
    Commission.objects.filter(pk=commission.pk).update(is_on_hold=True)
    commission.refresh_from_db()
    if commission.payout_id is not None:
        resettle_pending_payout(commission.payout_id)
        commission.refresh_from_db()
    send_for(commission_updated, commission)
    _follow_two_tier(commission)
    return commission


@transaction.atomic
def settle_dispute(commission: Commission, *, won: bool) -> Commission:
    send_for(commission_updated, commission)
    if won:
        Commission.objects.filter(pk=commission.pk).update(is_on_hold=False)
        commission.refresh_from_db()
        _follow_two_tier(commission)
        return commission
    commission = apply_refund(commission, refunded_amount=commission.base_amount)
    Commission.objects.filter(pk=commission.pk).update(is_on_hold=False)
    if commission.status != Commission.Status.PAID:
        Commission.objects.filter(pk=commission.pk).update(
            status=Commission.Status.VOIDED, void_reason="Dispute lost.", voided_at=timezone.now()
        )
    commission.refresh_from_db()
    _follow_two_tier(commission)
    # apply_refund above has let the bonuses follow already: a lost dispute voids what a full refund voids.
    return commission


def approve_commission(commission: Commission) -> Commission:
    """Pending → approved (by the merchant, before the hold period ends, or by the hold task)."""
    if commission.status != Commission.Status.PENDING:
        raise AffiliateError(f"Only pending commissions can be approved; this one is {commission.status}.")
    if commission.is_on_hold:
        raise AffiliateError("This commission is held while a dispute is open.")
    Commission.objects.filter(pk=commission.pk, status=Commission.Status.PENDING).update(
        status=Commission.Status.APPROVED, approved_at=timezone.now()
    )
    commission.refresh_from_db()
    send_for(commission_updated, commission)
    return commission


@transaction.atomic
def void_commission(commission: Commission, *, reason: str) -> Commission:
    if commission.status not in (Commission.Status.PENDING, Commission.Status.APPROVED):
        raise AffiliateError(f"A {commission.status} commission cannot be voided.")
    if commission.payout_id is not None:
        raise AffiliateError("This commission is in a payout; remove it from the payout first.")
    reason = (reason or "").strip()
    if not reason:
        raise AffiliateError("Say why the commission is voided.")
    Commission.objects.filter(
        pk=commission.pk, status__in=[Commission.Status.PENDING, Commission.Status.APPROVED]
    ).update(status=Commission.Status.VOIDED, voided_at=timezone.now(), void_reason=reason[:255])
    commission.refresh_from_db()
    if commission.source_type != Commission.SourceType.BONUS:
        note_results(Affiliate.objects.select_related("program").get(pk=commission.affiliate_id))
    send_for(commission_updated, commission)
    _follow_two_tier(commission)
    return commission


APPROVE_BATCH = 1000


def approve_due_commissions(*, now: datetime | None = None) -> int:
    """Pending commissions past their hold period, not held by a dispute, become approved.

    In batches of APPROVE_BATCH, each its own transaction, so `commission_updated` names the rows it approved
    (a batch keeps the ids within any database's limit on query parameters)."""
    now = now or timezone.now()
    due = Commission.objects.filter(
        status=Commission.Status.PENDING, hold_until__lte=now, is_on_hold=False, reversed_amount__lt=F("amount")
    )
    approved = 0
    while True:
        with transaction.atomic():
            rows = list(due.order_by("pk").values_list("merchant_id", "pk")[:APPROVE_BATCH])
            if not rows:
                return approved
            approved += due.filter(pk__in=[pk for _, pk in rows]).update(
                status=Commission.Status.APPROVED, approved_at=now
            )
            send_on_commit(commission_updated, Commission, rows)
