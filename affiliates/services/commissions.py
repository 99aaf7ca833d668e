"""Commissions: the rule, the amount, and everything that later changes it (refunds, disputes, approval)."""

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from afficone import enqueue, rawsql

from .. import money
from ..email_tasks import notify_new_commissions_task
from ..models import Affiliate, Commission, CommissionType, Payout, Program, Referral, RuleSource
from ..signals import commission_created, commission_updated, send_for, send_on_commit
from .errors import AffiliateError

# --- commissions --------------------------------------------------------------------------------------------------

SELF_REFERRAL_REASON = "Self-referral: the customer is the affiliate."


@dataclass(frozen=True)
class Rule:
    kind: str  # CommissionType
    value: int  # basis points, or a fixed amount in the minor unit of `currency`
    currency: str  # a fixed amount's; "" for a percentage
    origin: str  # RuleSource: "program" or "affiliate"

    @classmethod
    def of_commission(cls, commission: Commission) -> "Rule":
        """The rule a commission was computed with (a fixed amount is in the commission's currency)."""
        if commission.rule_type == CommissionType.PERCENT:
            return cls(CommissionType.PERCENT, commission.rule_bps or 0, "", commission.rule_source)
        return cls(CommissionType.FIXED, commission.rule_amount or 0, commission.currency, commission.rule_source)

    def commission_fields(self) -> dict:
        """The Commission fields that record this rule."""
        percent = self.kind == CommissionType.PERCENT
        return {
            "rule_source": self.origin,
            "rule_type": self.kind,
            "rule_bps": self.value if percent else None,
            "rule_amount": None if percent else self.value,
        }


def program_rule(program: Program) -> Rule:
    if program.commission_type == CommissionType.FIXED:
        return Rule(CommissionType.FIXED, program.commission_amount, program.commission_currency, RuleSource.PROGRAM)
    return Rule(CommissionType.PERCENT, program.commission_bps, "", RuleSource.PROGRAM)


def commission_rule(affiliate: Affiliate) -> Rule:
    """The affiliate's override where set, else the program's rule."""
    program = affiliate.program
    if affiliate.commission_type_override:
        kind = affiliate.commission_type_override
        if kind == CommissionType.PERCENT and affiliate.commission_bps_override is not None:
            return Rule(kind, affiliate.commission_bps_override, "", RuleSource.AFFILIATE)
        if kind == CommissionType.FIXED and affiliate.commission_amount_override is not None:
            return Rule(kind, affiliate.commission_amount_override, program.commission_currency, RuleSource.AFFILIATE)
    return program_rule(program)


def compute_commission(rule: Rule, *, base_amount: int, currency: str) -> tuple[int, str]:
    """(amount, currency) earned on `base_amount` (minor units, tax excluded), rounded half-up."""
    if rule.kind == CommissionType.FIXED:
        return (rule.value if base_amount > 0 else 0), rule.currency
    return money.percent_of(base_amount, rule.value), currency.lower()


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
) -> tuple[Commission | None, bool]:
    """Writes the commission a payment earns, once; returns (commission, created), as get_or_create does.

    Idempotency key: (merchant, source_id), a unique constraint; a second
    call for the same source returns the existing row unchanged, with created
    False. Returns (None, False) when nothing is earned and nothing was
    recorded before: the affiliate is not approved (suspended affiliates earn
    nothing), the payment is zero, or a recurring payment falls outside the
    program's recurring limit. A self-referral (the customer's email is the
    affiliate's) is stored voided and flagged.
    """
    merchant_id = referral.merchant_id
    if is_recurring or not _is_loaded(referral):
        # Fresh, with its affiliate and program in one query: another payment of the same customer may just have set
        # first_payment_at, which decides the recurring window (callers hold the customer's lock).
        referral = Referral.objects.select_related("affiliate__program").get(pk=referral.pk)
    affiliate = referral.affiliate
    paid_at = paid_at or timezone.now()
    earns = affiliate.is_approved and base_amount > 0
    if not earns or (is_recurring and not within_recurring_limit(referral, affiliate.program, paid_at)):
        return Commission.objects.filter(merchant_id=merchant_id, source_id=source_id).first(), False
    rule = commission_rule(affiliate)
    amount, commission_currency = compute_commission(rule, base_amount=base_amount, currency=currency)
    is_self = affiliate.is_self_referral(customer_email)
    now = timezone.now()
    commission = Commission(
        merchant_id=merchant_id,
        affiliate=affiliate,
        referral=referral,
        amount=0 if is_self else amount,
        currency=commission_currency,
        base_amount=base_amount,
        source_type=source_type,
        source_id=source_id,
        stripe_payment_intent_id=stripe_payment_intent_id or "",
        stripe_charge_id=stripe_charge_id or "",
        stripe_invoice_id=stripe_invoice_id or "",
        **rule.commission_fields(),
        is_recurring=is_recurring,
        is_self_referral=is_self,
        hold_until=now + timedelta(days=affiliate.program.hold_days),
    )
    if is_self:
        commission.status = Commission.Status.VOIDED
        commission.voided_at = now
        commission.void_reason = SELF_REFERRAL_REASON
    with transaction.atomic(savepoint=False):
        # One statement, no savepoint: the unique (merchant, source) decides.
        if not rawsql.insert_unless_exists(commission, ["merchant_id", "source_id"]):
            # Recorded before (a redelivery, or another worker's event for the same payment): theirs stands.
            return Commission.objects.get(merchant_id=merchant_id, source_id=source_id), False
        _note_payment(referral, paid_at=paid_at, now=now)
    send_for(commission_created, commission)
    if not is_self and commission.amount > 0:
        transaction.on_commit(lambda: commission_recorded(commission.pk))
    return commission, True


def _note_payment(referral: Referral, *, paid_at: datetime, now: datetime) -> None:
    """The earliest payment opens the recurring window, whichever of them arrives first; the first conversion stays.

    One hand-written UPDATE (every payment runs it): first_payment_at = LEAST(first_payment_at, paid_at), with
    COALESCE because SQLite's MIN answers NULL for a NULL where Postgres' LEAST skips it. The same statement through
    the ORM (`.update()` with Least and Coalesce) costs the worker four to five times the CPU, a fifth to a quarter
    more per attributed checkout: bench/note_payment.py measures both.
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


# New-commission emails: one task per commission, or one per batch inside `batched_commission_notices`.
_notice_batch: ContextVar[list[int] | None] = ContextVar("afficone_commission_notices", default=None)


def commission_recorded(commission_id: int) -> None:
    """Tells the affiliate of a new commission (an email task), once its transaction has committed."""
    batch = _notice_batch.get()
    if batch is None:
        enqueue.send(notify_new_commissions_task, [commission_id])
    else:
        batch.append(commission_id)


@contextmanager
def batched_commission_notices() -> Iterator[None]:
    """Collects the new-commission emails of everything recorded inside it into one task, sent at the end: the
    Stripe event drainers record many commissions in a row, and an enqueue costs about as much as recording one."""
    batch: list[int] = []
    token = _notice_batch.set(batch)
    try:
        yield
    finally:
        _notice_batch.reset(token)
        if batch:
            enqueue.send(notify_new_commissions_task, batch)


@transaction.atomic
def reprice_commission(
    commission: Commission, *, base_amount: int, customer_email: str = ""
) -> tuple[Commission, bool]:
    """A more exact account of a payment already commissioned: Checkout knows the tax and the customer's email that
    the PaymentIntent it created does not, so `checkout.session.completed` corrects a commission first written from
    `payment_intent.succeeded`, and the result does not depend on which event came first.

    Returns (commission, changed). When changed, the commission is as if just written: refunds and disputes already
    applied to the old amount are cleared, and the caller re-applies them (they are idempotent). A commission that is
    paid, in a payout, voided by the merchant or already flagged as a self-referral is left alone. The rule is the one
    it was written with when that is still the affiliate's, else the amount is scaled.
    """
    commission = Commission.objects.select_for_update().select_related("affiliate__program").get(pk=commission.pk)
    affiliate = commission.affiliate
    is_self = affiliate.is_self_referral(customer_email)
    voided_by_merchant = (
        commission.status == Commission.Status.VOIDED and commission.reversed_amount < commission.amount
    )
    if (
        commission.status == Commission.Status.PAID
        or commission.payout_id is not None
        or voided_by_merchant
        or commission.is_self_referral
        or base_amount <= 0
        or (base_amount == commission.base_amount and not is_self)
    ):
        return commission, False
    rule = commission_rule(affiliate)
    if rule == Rule.of_commission(commission):
        amount, _ = compute_commission(rule, base_amount=base_amount, currency=commission.currency)
    elif commission.rule_type == CommissionType.FIXED:
        amount = commission.amount
    else:
        amount = money.proportion(commission.amount, base_amount, commission.base_amount)
    updates: dict = dict(
        base_amount=base_amount,
        amount=amount,
        refunded_amount=0,
        reversed_amount=0,
        is_on_hold=False,
        status=Commission.Status.APPROVED
        if commission.status == Commission.Status.APPROVED
        else Commission.Status.PENDING,
        voided_at=None,
        void_reason="",
    )
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
    send_for(commission_updated, commission)
    return commission, True


@transaction.atomic
def apply_refund(commission: Commission, *, refunded_amount: int) -> Commission:
    """Takes back the share of the commission that `refunded_amount` (cumulative) is of the payment.

    Idempotent and order-proof: the reversal only grows, to
    `amount * refunded / base`, rounded half-up; a full refund voids the
    commission unless it has already been paid out.
    """
    commission = Commission.objects.select_for_update().get(pk=commission.pk)
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
        _resettle_pending_payout(commission.payout_id)
        commission.refresh_from_db()
    send_for(commission_updated, commission)
    return commission


def _resettle_pending_payout(payout_id: int) -> None:
    """A refund or a dispute reached a commission in an unpaid payout: voided and held commissions leave it, and
    its total follows what remains. A paid payout is history: later reversals are deducted from the next one."""
    payout = Payout.objects.select_for_update().filter(pk=payout_id, status=Payout.Status.PENDING).first()
    if payout is None:
        return
    Commission.objects.filter(payout=payout).filter(Q(status=Commission.Status.VOIDED) | Q(is_on_hold=True)).update(
        payout=None
    )
    total = sum(c.net_amount for c in Commission.objects.filter(payout=payout)) - payout.deducted_amount
    if total <= 0:
        Commission.objects.filter(payout=payout).update(payout=None)
        payout.delete()  # its deduction is owed again, and the next batch takes it
    else:
        Payout.objects.filter(pk=payout.pk).update(amount=total)


@transaction.atomic
def hold_commission(commission: Commission) -> Commission:
    """A dispute was opened: the commission is not approved or paid while it is open (it leaves an unpaid payout)."""
    Commission.objects.filter(pk=commission.pk).update(is_on_hold=True)
    commission.refresh_from_db()
    if commission.payout_id is not None:
        _resettle_pending_payout(commission.payout_id)
        commission.refresh_from_db()
    send_for(commission_updated, commission)
    return commission


@transaction.atomic
def settle_dispute(commission: Commission, *, won: bool) -> Commission:
    send_for(commission_updated, commission)
    if won:
        Commission.objects.filter(pk=commission.pk).update(is_on_hold=False)
        commission.refresh_from_db()
        return commission
    commission = apply_refund(commission, refunded_amount=commission.base_amount)
    Commission.objects.filter(pk=commission.pk).update(is_on_hold=False)
    if commission.status != Commission.Status.PAID:
        Commission.objects.filter(pk=commission.pk).update(
            status=Commission.Status.VOIDED, void_reason="Dispute lost.", voided_at=timezone.now()
        )
    commission.refresh_from_db()
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
    send_for(commission_updated, commission)
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
