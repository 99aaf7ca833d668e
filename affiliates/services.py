"""Programs, affiliates, referrals, commissions and payouts: every write that matters."""

import re
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.text import slugify

from tenants.models import Merchant

from . import money
from .models import CODE_PATTERN, Affiliate, Commission, CommissionType, Payout, PayoutBatch, Program, Referral


class AffiliateError(ValueError):
    """A request that cannot be carried out; the message is shown to the user."""


# --- programs -----------------------------------------------------------------------------------------------------


def create_default_program(merchant: Merchant) -> Program:
    """DESIGN.md's default: 20% excluding tax, recurring 12 months, 60-day cookie, 30-day hold."""
    program, _ = Program.objects.get_or_create(
        merchant=merchant,
        is_default=True,
        defaults=dict(
            name=f"{merchant.name} affiliate program",
            commission_type=CommissionType.PERCENT,
            commission_bps=2000,
            recurring_months=12,
            cookie_days=60,
            hold_days=30,
        ),
    )
    return program


def default_program(merchant: Merchant) -> Program:
    return Program.objects.filter(merchant=merchant, is_default=True).first() or create_default_program(merchant)


# --- affiliates ---------------------------------------------------------------------------------------------------


def is_valid_code(code: str) -> bool:
    return bool(re.fullmatch(CODE_PATTERN, code or ""))


def suggest_code(merchant: Merchant, seed: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]", "", slugify(seed.split("@")[0]))[:40] or "partner"
    code = base
    while Affiliate.objects.filter(merchant=merchant, code__iexact=code).exists():
        code = f"{base}-{secrets.token_hex(2)}"
    return code


@transaction.atomic
def create_affiliate(
    merchant: Merchant,
    *,
    email: str,
    name: str = "",
    code: str | None = None,
    program: Program | None = None,
    status: str = Affiliate.Status.APPROVED,
    user=None,
) -> Affiliate:
    """Affiliates the merchant creates start approved; self-signups pass the status the program gives."""
    email = email.strip().lower()
    code = (code or "").strip() or suggest_code(merchant, name or email)
    if not is_valid_code(code):
        raise AffiliateError("A code is 1 to 64 letters, digits, '-' or '_'.")
    if Affiliate.objects.filter(merchant=merchant, code__iexact=code).exists():
        raise AffiliateError(f"The code {code!r} is already taken.")
    if Affiliate.objects.filter(merchant=merchant, email__iexact=email).exists():
        raise AffiliateError(f"{email} is already an affiliate.")
    program = program or default_program(merchant)
    if program.merchant_id != merchant.pk:
        raise AffiliateError("Unknown program.")
    try:
        with transaction.atomic():
            return Affiliate.objects.create(
                merchant=merchant,
                program=program,
                email=email,
                name=name.strip(),
                code=code,
                status=status,
                user=user,
                approved_at=timezone.now() if status == Affiliate.Status.APPROVED else None,
            )
    except IntegrityError:
        raise AffiliateError("That code or email is already taken.") from None


def set_affiliate_status(affiliate: Affiliate, status: str) -> Affiliate:
    if status not in Affiliate.Status.values:
        raise AffiliateError("Unknown status.")
    updates = {"status": status}
    if status == Affiliate.Status.APPROVED and affiliate.approved_at is None:
        updates["approved_at"] = timezone.now()
    Affiliate.objects.filter(pk=affiliate.pk).update(**updates)
    affiliate.refresh_from_db()
    return affiliate


# --- referrals ----------------------------------------------------------------------------------------------------


def create_referral(affiliate: Affiliate, **fields) -> Referral:
    return Referral.objects.create(merchant_id=affiliate.merchant_id, affiliate=affiliate, **fields)


def resolve_reference(merchant: Merchant, reference: str | None) -> Referral | None:
    """The referral named by `reference`: a referral id, or an affiliate's code.

    A code (say, from a coupon the merchant's backend knows) gets a fresh
    referral for that affiliate. Scoped to `merchant`: another tenant's ids
    resolve to None.
    """
    reference = (reference or "").strip()
    if not reference or len(reference) > 200:
        return None
    referrals = Referral.objects.for_merchant(merchant).select_related("affiliate").filter(rid=reference)
    referral = referrals.first()
    if referral is None:
        from tracking.services import write_buffered_clicks

        write_buffered_clicks()  # a referral id answered moments ago may still be in the click buffer
        referral = referrals.first()
    if referral is not None:
        return referral
    affiliate = Affiliate.objects.for_merchant(merchant).filter(code__iexact=reference).first()
    if affiliate is None:
        return None
    return create_referral(affiliate)


# --- commissions --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    kind: str  # CommissionType
    value: int  # basis points, or a fixed amount in the minor unit of `currency`
    currency: str
    origin: str  # "program" or "affiliate"

    def __str__(self) -> str:
        value = f"{self.value}bps" if self.kind == CommissionType.PERCENT else f"{self.value} {self.currency}"
        return f"{self.origin}:{self.kind}:{value}"


def commission_rule(affiliate: Affiliate) -> Rule:
    """The affiliate's override where set, else the program's rule."""
    program = affiliate.program
    if affiliate.commission_type_override:
        kind = affiliate.commission_type_override
        if kind == CommissionType.PERCENT and affiliate.commission_bps_override is not None:
            return Rule(kind, affiliate.commission_bps_override, "", "affiliate")
        if kind == CommissionType.FIXED and affiliate.commission_amount_override is not None:
            return Rule(kind, affiliate.commission_amount_override, program.commission_currency, "affiliate")
    if program.commission_type == CommissionType.FIXED:
        return Rule(CommissionType.FIXED, program.commission_amount, program.commission_currency, "program")
    return Rule(CommissionType.PERCENT, program.commission_bps, "", "program")


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
    import calendar

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
) -> Commission | None:
    """Writes the commission a payment earns, once.

    Idempotency key: (merchant, source_id), a unique constraint; a second
    call for the same source returns the existing row unchanged. Returns None
    when nothing is earned: the affiliate is not approved (suspended
    affiliates earn nothing), the payment is zero, or a recurring payment
    falls outside the program's recurring limit. A self-referral (the
    customer's email is the affiliate's) is stored voided and flagged.
    """
    merchant_id = referral.merchant_id
    existing = Commission.objects.filter(merchant_id=merchant_id, source_id=source_id).first()
    if existing is not None:
        return existing
    # Fresh: first_payment_at may have been set by another payment. One query with the affiliate and program.
    referral = Referral.objects.select_related("affiliate__program").get(pk=referral.pk)
    affiliate = referral.affiliate
    paid_at = paid_at or timezone.now()
    if not affiliate.is_approved or base_amount <= 0:
        return None
    if is_recurring and not within_recurring_limit(referral, affiliate.program, paid_at):
        return None
    rule = commission_rule(affiliate)
    amount, commission_currency = compute_commission(rule, base_amount=base_amount, currency=currency)
    is_self = bool(customer_email) and customer_email.strip().lower() == affiliate.email.lower()
    now = timezone.now()
    fields = dict(
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
        rule=str(rule),
        is_recurring=is_recurring,
        is_self_referral=is_self,
        hold_until=now + timedelta(days=affiliate.program.hold_days),
    )
    if is_self:
        fields.update(status=Commission.Status.VOIDED, voided_at=now, void_reason="Self-referral: the customer is the affiliate.")
    try:
        with transaction.atomic():
            commission = Commission.objects.create(**fields)
            # The earliest payment opens the recurring window, whichever of them arrives first.
            # One UPDATE: first_payment_at = LEAST(first_payment_at, paid_at) (Postgres' LEAST skips NULLs;
            # Coalesce keeps SQLite's from answering NULL), converted_at kept if set.
            Referral.objects.filter(pk=referral.pk).update(
                first_payment_at=Least(Coalesce(F("first_payment_at"), Value(paid_at)), Value(paid_at)),
                converted_at=Coalesce(F("converted_at"), Value(now)),
            )
    except IntegrityError:
        # Lost a race with another worker for the same source: theirs stands.
        return Commission.objects.get(merchant_id=merchant_id, source_id=source_id)
    if not is_self and commission.amount > 0:
        from .tasks import notify_new_commission_task

        transaction.on_commit(lambda: notify_new_commission_task.delay(commission.pk))
    return commission


@transaction.atomic
def reprice_commission(commission: Commission, *, base_amount: int, customer_email: str = "") -> tuple[Commission, bool]:
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
    is_self = bool(customer_email) and customer_email.strip().lower() == affiliate.email.lower()
    voided_by_merchant = commission.status == Commission.Status.VOIDED and commission.reversed_amount < commission.amount
    if (
        commission.status == Commission.Status.PAID or commission.payout_id is not None or voided_by_merchant
        or commission.is_self_referral or base_amount <= 0 or (base_amount == commission.base_amount and not is_self)
    ):
        return commission, False
    rule = commission_rule(affiliate)
    if str(rule) == commission.rule:
        amount, _ = compute_commission(rule, base_amount=base_amount, currency=commission.currency)
    elif commission.rule.split(":")[1:2] == [CommissionType.FIXED]:
        amount = commission.amount
    else:
        amount = money.proportion(commission.amount, base_amount, commission.base_amount)
    updates: dict = dict(
        base_amount=base_amount, amount=amount, refunded_amount=0, reversed_amount=0, is_on_hold=False,
        status=Commission.Status.APPROVED if commission.status == Commission.Status.APPROVED else Commission.Status.PENDING,
        voided_at=None, void_reason="",
    )
    if is_self:
        updates.update(amount=0, is_self_referral=True, status=Commission.Status.VOIDED, voided_at=timezone.now(),
                       void_reason="Self-referral: the customer is the affiliate.")
    Commission.objects.filter(pk=commission.pk).update(**updates)
    commission.refresh_from_db()
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
    reversed_amount = max(commission.reversed_amount, money.proportion(commission.amount, refunded, commission.base_amount))
    updates = {"refunded_amount": refunded, "reversed_amount": min(reversed_amount, commission.amount)}
    if refunded >= commission.base_amount and commission.status in (Commission.Status.PENDING, Commission.Status.APPROVED):
        updates.update(status=Commission.Status.VOIDED, voided_at=timezone.now(), void_reason="Payment refunded in full.")
    Commission.objects.filter(pk=commission.pk).update(**updates)
    commission.refresh_from_db()
    if commission.payout_id is not None:
        _resettle_pending_payout(commission.payout_id)
        commission.refresh_from_db()
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
    return commission


@transaction.atomic
def settle_dispute(commission: Commission, *, won: bool) -> Commission:
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
    return commission


def void_commission(commission: Commission, *, reason: str) -> Commission:
    if commission.status not in (Commission.Status.PENDING, Commission.Status.APPROVED):
        raise AffiliateError(f"A {commission.status} commission cannot be voided.")
    if commission.payout_id is not None:
        raise AffiliateError("This commission is in a payout; remove it from the payout first.")
    reason = (reason or "").strip()
    if not reason:
        raise AffiliateError("Say why the commission is voided.")
    Commission.objects.filter(pk=commission.pk, status__in=[Commission.Status.PENDING, Commission.Status.APPROVED]).update(
        status=Commission.Status.VOIDED, voided_at=timezone.now(), void_reason=reason[:255]
    )
    commission.refresh_from_db()
    return commission


def approve_due_commissions(*, now: datetime | None = None) -> int:
    """Pending commissions past their hold period, not held by a dispute, become approved."""
    now = now or timezone.now()
    return Commission.objects.filter(
        status=Commission.Status.PENDING, hold_until__lte=now, is_on_hold=False, reversed_amount__lt=F("amount")
    ).update(status=Commission.Status.APPROVED, approved_at=now)


# --- payouts ------------------------------------------------------------------------------------------------------


def payable_commissions(merchant: Merchant):
    return Commission.objects.for_merchant(merchant).filter(
        status=Commission.Status.APPROVED, payout=None, is_on_hold=False
    ).filter(~Q(reversed_amount=F("amount")))


@transaction.atomic
def create_payout_batch(merchant: Merchant, *, created_by=None) -> PayoutBatch | None:
    """One payout per affiliate and currency whose approved, unpaid commissions reach the program's minimum.

    Commissions are claimed with select_for_update, so two batches created at
    once never share a commission. Returns None when nobody is due.
    """
    # One batch at a time per merchant: the owed-back balances below must not be deducted twice.
    list(Affiliate.objects.for_merchant(merchant).select_for_update().values_list("pk", flat=True))
    commissions = list(
        payable_commissions(merchant).select_for_update().select_related("affiliate__program").order_by("pk")
    )
    groups: dict[tuple[int, str], list[Commission]] = defaultdict(list)
    for commission in commissions:
        if commission.affiliate.status == Affiliate.Status.APPROVED:
            groups[(commission.affiliate_id, commission.currency)].append(commission)
    owed_back = owed_back_balances(merchant)
    due = {}
    for key, items in groups.items():
        program = items[0].affiliate.program
        minimum = payout_minimum(program, key[1])
        amount = sum(c.net_amount for c in items) - owed_back.get(key, 0)
        if amount >= max(minimum, 1):
            due[key] = (items, amount)
    if not due:
        return None
    batch = PayoutBatch.objects.create(merchant=merchant, created_by=created_by)
    for (affiliate_id, currency), (items, amount) in sorted(due.items()):
        payout = Payout.objects.create(
            merchant=merchant,
            batch=batch,
            affiliate_id=affiliate_id,
            currency=currency,
            amount=amount,
            deducted_amount=owed_back.get((affiliate_id, currency), 0),
        )
        Commission.objects.filter(pk__in=[c.pk for c in items]).update(payout=payout)
    return batch


def payout_minimum(program: Program, currency: str) -> int:
    """The program's minimum in `currency`'s minor unit. It is set in the program's currency; for another currency
    the same figure in that currency's major units is used (no exchange rates here: $50.00 → €50.00, ¥50)."""
    if currency == program.commission_currency:
        return program.min_payout_amount
    shift = money.exponent(currency) - money.exponent(program.commission_currency)
    value = program.min_payout_amount * 10**shift if shift >= 0 else -(-program.min_payout_amount // 10**-shift)
    return max(value, 1)


def owed_back_balances(merchant: Merchant) -> dict[tuple[int, str], int]:
    """Per (affiliate, currency): what refunds and lost disputes took back from commissions already paid out,
    less what earlier payouts have deducted for it. Derived, never stored, so a deleted payout owes it again."""
    reversed_after_payment = (
        Commission.objects.for_merchant(merchant)
        .filter(status=Commission.Status.PAID)
        .values("affiliate_id", "currency")
        .annotate(total=Sum(F("paid_amount") - F("amount") + F("reversed_amount")))
    )
    deducted = (
        Payout.objects.for_merchant(merchant)
        .filter(deducted_amount__gt=0)
        .values("affiliate_id", "currency")
        .annotate(total=Sum("deducted_amount"))
    )
    balances: dict[tuple[int, str], int] = defaultdict(int)
    for row in reversed_after_payment:
        balances[(row["affiliate_id"], row["currency"])] += row["total"] or 0
    for row in deducted:
        balances[(row["affiliate_id"], row["currency"])] -= row["total"] or 0
    return {key: value for key, value in balances.items() if value > 0}


@transaction.atomic
def mark_payout_paid(payout: Payout, *, reference: str = "") -> Payout:
    """Claimed with a conditional update: marking twice is refused, never double-counted."""
    now = timezone.now()
    claimed = Payout.objects.filter(pk=payout.pk, status=Payout.Status.PENDING).update(
        status=Payout.Status.PAID, paid_at=now, reference=reference.strip()[:255]
    )
    if claimed != 1:
        raise AffiliateError("This payout has already been marked paid.")
    Commission.objects.filter(payout=payout).update(
        status=Commission.Status.PAID, paid_at=now, paid_amount=F("amount") - F("reversed_amount")
    )
    payout.refresh_from_db()
    from .tasks import notify_payout_sent_task

    transaction.on_commit(lambda: notify_payout_sent_task.delay(payout.pk))
    return payout


# --- dashboard and portal -----------------------------------------------------------------------------------------

PROGRAM_FIELDS = (
    "name", "commission_type", "commission_bps", "commission_amount", "commission_currency", "recurring_months",
    "cookie_days", "hold_days", "min_payout_amount", "attribution", "auto_approve", "signup_open",
)


def _on_commit_task(task, *args) -> None:
    transaction.on_commit(lambda: task.delay(*args))


@transaction.atomic
def update_program(program: Program, **changes) -> Program:
    """Saves the merchant's program settings; the first save completes the onboarding step "review your program"."""
    unknown = set(changes) - set(PROGRAM_FIELDS)
    if unknown:
        raise AffiliateError(f"Unknown program settings: {', '.join(sorted(unknown))}.")
    if changes.get("commission_type") == CommissionType.PERCENT and not 0 <= changes.get("commission_bps", program.commission_bps) <= 10000:
        raise AffiliateError("A percentage is between 0% and 100%.")
    updates = dict(changes)
    if program.reviewed_at is None:
        updates["reviewed_at"] = timezone.now()
    Program.objects.filter(pk=program.pk).update(**updates)
    program.refresh_from_db()
    return program


@transaction.atomic
def update_affiliate(
    affiliate: Affiliate,
    *,
    name: str,
    code: str,
    commission_type_override: str = "",
    commission_bps_override: int | None = None,
    commission_amount_override: int | None = None,
) -> Affiliate:
    """Edits an affiliate's name, code and commission override. Links with the old code stop working."""
    code = code.strip()
    if not is_valid_code(code):
        raise AffiliateError("A code is 1 to 64 letters, digits, '-' or '_'.")
    taken = Affiliate.objects.filter(merchant_id=affiliate.merchant_id, code__iexact=code).exclude(pk=affiliate.pk)
    if taken.exists():
        raise AffiliateError(f"The code {code!r} is already taken.")
    if commission_type_override == CommissionType.PERCENT:
        if commission_bps_override is None or not 0 <= commission_bps_override <= 10000:
            raise AffiliateError("Give the override percentage, between 0% and 100%.")
        commission_amount_override = None
    elif commission_type_override == CommissionType.FIXED:
        if commission_amount_override is None or commission_amount_override < 0:
            raise AffiliateError("Give the override amount.")
        commission_bps_override = None
    else:
        commission_type_override, commission_bps_override, commission_amount_override = "", None, None
    try:
        with transaction.atomic():
            Affiliate.objects.filter(pk=affiliate.pk).update(
                name=name.strip(),
                code=code,
                commission_type_override=commission_type_override,
                commission_bps_override=commission_bps_override,
                commission_amount_override=commission_amount_override,
            )
    except IntegrityError:
        raise AffiliateError(f"The code {code!r} is already taken.") from None
    affiliate.refresh_from_db()
    return affiliate


def change_affiliate_status(affiliate: Affiliate, *, status: str) -> Affiliate:
    """Approve, reject or suspend. The affiliate is emailed when approved for the first time or again."""
    was_approved = affiliate.status == Affiliate.Status.APPROVED
    affiliate = set_affiliate_status(affiliate, status)
    if status == Affiliate.Status.APPROVED and not was_approved:
        from .tasks import notify_affiliate_approved_task

        _on_commit_task(notify_affiliate_approved_task, affiliate.pk)
    return affiliate


INVITE_SALT = "affiliates.invite"
INVITE_MAX_AGE = timedelta(days=14)


def invite_token(affiliate: Affiliate) -> str:
    from django.core import signing

    return signing.dumps(str(affiliate.uid), salt=INVITE_SALT, compress=True)


def affiliate_for_invite(merchant: Merchant, token: str) -> Affiliate | None:
    """The invited affiliate of `merchant` named by a signed, unexpired token, while no account claimed it."""
    from django.core import signing

    try:
        uid = signing.loads(token, salt=INVITE_SALT, max_age=INVITE_MAX_AGE)
    except signing.BadSignature:
        return None
    return Affiliate.objects.for_merchant(merchant).filter(uid=uid, user=None).first()


@transaction.atomic
def invite_affiliate(merchant: Merchant, *, email: str, name: str = "", code: str | None = None, invited_by=None) -> Affiliate:
    """Creates an approved affiliate and emails them a link to set up their portal account (valid 14 days)."""
    affiliate = create_affiliate(merchant, email=email, name=name, code=code, status=Affiliate.Status.APPROVED)
    from .tasks import notify_affiliate_invited_task

    _on_commit_task(notify_affiliate_invited_task, affiliate.pk)
    return affiliate


@transaction.atomic
def claim_affiliate_invite(affiliate: Affiliate, *, user) -> Affiliate:
    """Links the invited affiliate to the account that accepted; single use (conditional update)."""
    claimed = Affiliate.objects.filter(pk=affiliate.pk, user=None).update(user=user)
    if claimed != 1:
        raise AffiliateError("This invitation has already been used.")
    affiliate.refresh_from_db()
    return affiliate


@transaction.atomic
def sign_up_affiliate(merchant: Merchant, *, user, name: str = "", code: str | None = None) -> Affiliate:
    """A self-signup on the portal: pending, or approved at once if the program auto-approves.

    The merchant's owners and admins are told of every new affiliate; an
    auto-approved one also gets the approval email with their link.
    """
    program = default_program(merchant)
    if not program.signup_open:
        raise AffiliateError(f"{merchant.name} is not accepting new affiliates at the moment.")
    if Affiliate.objects.for_merchant(merchant).filter(Q(user=user) | Q(email__iexact=user.email)).exists():
        raise AffiliateError("You already have an affiliate account here: log in instead.")
    status = Affiliate.Status.APPROVED if program.auto_approve else Affiliate.Status.PENDING
    affiliate = create_affiliate(
        merchant, email=user.email, name=name or user.name, code=code, program=program, status=status, user=user
    )
    from .tasks import notify_affiliate_approved_task, notify_new_application_task

    _on_commit_task(notify_new_application_task, affiliate.pk)
    if status == Affiliate.Status.APPROVED:
        _on_commit_task(notify_affiliate_approved_task, affiliate.pk)
    return affiliate


FORMULA_PREFIXES = ("=", "+", "-", "@")


def update_payout_settings(
    affiliate: Affiliate, *, payout_method: str, paypal_email: str = "", bank_details: str = "", notify_on_commission: bool
) -> Affiliate:
    if payout_method not in Affiliate.PayoutMethod.values:
        raise AffiliateError("Choose PayPal or bank transfer.")
    if payout_method == Affiliate.PayoutMethod.PAYPAL and not paypal_email.strip():
        raise AffiliateError("Give the PayPal email address to pay.")
    if paypal_email.strip()[:1] in FORMULA_PREFIXES:
        # Such an address ends up in the PayPal CSV, where a spreadsheet would run it as a formula.
        raise AffiliateError("A PayPal email address cannot start with = + - or @.")
    if payout_method == Affiliate.PayoutMethod.BANK and not bank_details.strip():
        raise AffiliateError("Give your bank details (account holder, IBAN or account number, bank).")
    Affiliate.objects.filter(pk=affiliate.pk).update(
        payout_method=payout_method,
        paypal_email=paypal_email.strip().lower(),
        bank_details=bank_details.strip(),
        notify_on_commission=notify_on_commission,
    )
    affiliate.refresh_from_db()
    return affiliate


def mark_batch_paid(batch: PayoutBatch, *, reference: str = "") -> int:
    """Marks every pending payout of the batch paid with one reference (say, the PayPal batch id)."""
    count = 0
    for payout in Payout.objects.filter(batch=batch, status=Payout.Status.PENDING):
        try:
            mark_payout_paid(payout, reference=reference)
            count += 1
        except AffiliateError:
            continue  # marked by someone else meanwhile
    return count


# --- rollups ------------------------------------------------------------------------------------------------------


def rollup_daily_stats(*, recompute_days: int = 2, full: bool = False, now: datetime | None = None) -> int:
    """Recomputes DailyStat for closed UTC days and moves `RollupState.closed_through` to yesterday.

    Each run rebuilds, from the raw rows, every day after the previous
    watermark plus the `recompute_days` before it (clicks buffered by the
    tracker and flushed after midnight land in a day that is rebuilt again),
    deleting and re-inserting whole days in one transaction, so rows never
    drift. Readers add raw rows after the watermark, so totals are exact.
    Idempotent; serialised by a row lock on RollupState. Returns rows written.
    """
    from datetime import UTC

    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from tracking.models import Click

    from .models import DailyStat, RollupState

    now = now or timezone.now()
    yesterday = now.astimezone(UTC).date() - timedelta(days=1)
    with transaction.atomic():
        RollupState.objects.get_or_create(pk=1)
        state = RollupState.objects.select_for_update().get(pk=1)
        if full or state.closed_through is None:
            first = [
                d for d in (
                    Click.objects.order_by("created_at").values_list("created_at", flat=True).first(),
                    Referral.objects.order_by("created_at").values_list("created_at", flat=True).first(),
                    Commission.objects.order_by("created_at").values_list("created_at", flat=True).first(),
                ) if d is not None
            ]
            start = min(first).astimezone(UTC).date() if first else yesterday
        else:
            start = state.closed_through - timedelta(days=recompute_days - 1)
        if start > yesterday:
            _rollup_commissions(None, yesterday)
            RollupState.objects.filter(pk=1).update(closed_through=yesterday)
            return 0
        lo = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
        hi = datetime.combine(yesterday + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        rows: dict[tuple[int, int, object], dict] = defaultdict(lambda: {"clicks": 0, "referrals": 0, "customers": 0})
        sources = (
            ("clicks", Click.objects.filter(created_at__gte=lo, created_at__lt=hi), "created_at"),
            ("referrals", Referral.objects.filter(created_at__gte=lo, created_at__lt=hi), "created_at"),
            ("customers", Referral.objects.filter(converted_at__gte=lo, converted_at__lt=hi), "converted_at"),
        )
        for name, qs, stamp in sources:
            grouped = qs.annotate(day=TruncDate(stamp)).values("merchant_id", "affiliate_id", "day").annotate(n=Count("pk"))
            for row in grouped.iterator():
                rows[(row["merchant_id"], row["affiliate_id"], row["day"])][name] = row["n"]
                rows[(row["merchant_id"], None, row["day"])][name] += row["n"]  # the merchant's total for the day
        DailyStat.objects.filter(day__gte=start, day__lte=yesterday).delete()
        DailyStat.objects.bulk_create(
            [DailyStat(merchant_id=m, affiliate_id=a, day=d, **values) for (m, a, d), values in rows.items()],
            batch_size=5000,
        )
        _rollup_commissions(start, yesterday)
        RollupState.objects.filter(pk=1).update(closed_through=yesterday)
    return len(rows)


def _rollup_commissions(start, yesterday) -> None:
    """Rebuilds CommissionDailyStat for the days [start, yesterday] and for every day the trigger marked dirty.

    Postgres only (the trigger is). A mark is deleted only if its version is
    still the one read here: a change committed while this runs keeps its mark,
    and readers keep reading that day raw until the next run.
    """
    from datetime import UTC

    from django.db import connection
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    from .models import CommissionDailyStat, CommissionDirtyDay

    if connection.vendor != "postgresql":
        return
    marks = list(CommissionDirtyDay.objects.filter(day__lte=yesterday).values_list("merchant_pk", "day", "version"))

    def aggregate(qs):
        return (
            qs.annotate(d=TruncDate("created_at"))
            .values("merchant_id", "d", "currency", "status")
            .annotate(n=Count("*"), net=Sum(F("amount") - F("reversed_amount")), revenue=Sum(F("base_amount") - F("refunded_amount")))
            .order_by()
        )

    def write(rows) -> None:
        CommissionDailyStat.objects.bulk_create(
            [
                CommissionDailyStat(merchant_id=r["merchant_id"], day=r["d"], currency=r["currency"], status=r["status"],
                                    payments=r["n"], net=r["net"] or 0, revenue=r["revenue"] or 0)
                for r in rows
            ],
            batch_size=5000,
        )

    def bounds(first, last):
        return (datetime.combine(first, datetime.min.time(), tzinfo=UTC),
                datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC))

    if start is not None:
        lo, hi = bounds(start, yesterday)
        rows = list(aggregate(Commission.objects.filter(created_at__gte=lo, created_at__lt=hi)).iterator())
        CommissionDailyStat.objects.filter(day__gte=start, day__lte=yesterday).delete()
        write(rows)
    for merchant_pk, day in {(m, d) for m, d, _ in marks if start is None or d < start}:
        lo, hi = bounds(day, day)
        rows = list(aggregate(Commission.objects.filter(merchant_id=merchant_pk, created_at__gte=lo, created_at__lt=hi)))
        CommissionDailyStat.objects.filter(merchant_id=merchant_pk, day=day).delete()
        write(rows)
    _rollup_affiliate_months(start, yesterday, {(m, d) for m, d, _ in marks})
    for merchant_pk, day, version in marks:
        CommissionDirtyDay.objects.filter(merchant_pk=merchant_pk, day=day, version__lte=version).delete()


def month_start(day):
    return day.replace(day=1)


def next_month(day):
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _rollup_affiliate_months(start, yesterday, marks: set) -> None:
    """Rebuilds AffiliateCommissionMonth for the complete months (last day <= yesterday) that meet [start, yesterday]
    for every merchant, and for the complete months holding a marked day, for that merchant. Whole months from raw
    rows, deleted and re-inserted, in the caller's transaction.
    """
    from datetime import UTC

    from django.db.models import Count, Sum

    from .models import AffiliateCommissionMonth

    def rebuild(month, merchant_pk=None) -> None:
        lo = datetime.combine(month, datetime.min.time(), tzinfo=UTC)
        hi = datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC)
        qs = Commission.objects.filter(created_at__gte=lo, created_at__lt=hi).exclude(status=Commission.Status.VOIDED)
        old = AffiliateCommissionMonth.objects.filter(month=month)
        if merchant_pk is not None:
            qs, old = qs.filter(merchant_id=merchant_pk), old.filter(merchant_id=merchant_pk)
        rows = qs.values("merchant_id", "affiliate_id", "currency").annotate(
            n=Count("*"), net=Sum(F("amount") - F("reversed_amount")),
            revenue=Sum(F("base_amount") - F("refunded_amount")),
        ).order_by()
        rows = list(rows.iterator())
        old.delete()
        AffiliateCommissionMonth.objects.bulk_create(
            [
                AffiliateCommissionMonth(merchant_id=r["merchant_id"], affiliate_id=r["affiliate_id"], month=month,
                                         currency=r["currency"], payments=r["n"], net=r["net"] or 0,
                                         revenue=r["revenue"] or 0)
                for r in rows
            ],
            batch_size=5000,
        )

    whole: set = set()
    if start is not None:
        month = month_start(start)
        while next_month(month) <= yesterday + timedelta(days=1):
            whole.add(month)
            month = next_month(month)
    for month in sorted(whole):
        rebuild(month)
    for merchant_pk, month in sorted({(m, month_start(d)) for m, d in marks}):
        if month not in whole and next_month(month) <= yesterday + timedelta(days=1):
            rebuild(month, merchant_pk)


def _password_matches(user, password: str) -> bool:
    """An existing account's password, checked with the login's per-account throttle (no password oracle)."""
    from django.contrib.auth import authenticate
    from django.core.cache import cache

    from tenants.forms import LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW, login_failures_key

    key = login_failures_key(user.email)
    if (cache.get(key) or 0) >= LOGIN_FAILURE_LIMIT:
        raise AffiliateError("Too many failed attempts for this account. Try again in 15 minutes, or reset your password.")
    if authenticate(username=user.email, password=password) is not None:
        return True
    cache.add(key, 0, LOGIN_FAILURE_WINDOW)
    cache.incr(key)
    return False


@transaction.atomic
def register_affiliate(merchant: Merchant, *, email: str, password: str, name: str = "") -> tuple[Affiliate, object]:
    """Portal signup: one global account per email (tenants.User), one affiliate per merchant.

    An email that already has an account must give that account's password;
    a new email gets an account with a validated password.
    """
    from django.contrib.auth import password_validation
    from django.core.exceptions import ValidationError

    from tenants.models import User

    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if not _password_matches(user, password):
            raise AffiliateError(
                "An account with this email already exists: enter its password, or reset it from the login page."
            )
    else:
        try:
            password_validation.validate_password(password, User(email=email, name=name))
        except ValidationError as exc:  # its messages are for the user
            raise AffiliateError(" ".join(exc.messages)) from None
        user = User.objects.create_user(email=email, password=password, name=name.strip())
    affiliate = sign_up_affiliate(merchant, user=user, name=name)
    return affiliate, user


@transaction.atomic
def accept_affiliate_invite(affiliate: Affiliate, *, password: str):
    """An invited affiliate sets a password (new email) or proves theirs (existing account); the invite is then used."""
    from django.contrib.auth import password_validation
    from django.core.exceptions import ValidationError

    from tenants.models import User

    user = User.objects.filter(email__iexact=affiliate.email).first()
    if user is not None:
        if not _password_matches(user, password):
            raise AffiliateError("You already have an account with this email: enter its password.")
    else:
        try:
            password_validation.validate_password(password, User(email=affiliate.email))
        except ValidationError as exc:
            raise AffiliateError(" ".join(exc.messages)) from None
        user = User.objects.create_user(email=affiliate.email, password=password, name=affiliate.name)
    return claim_affiliate_invite(affiliate, user=user), user
