"""Payouts: batches per affiliate and currency, marking paid, and what reversals after payout leave owed back."""

from collections import defaultdict

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from afficone import enqueue
from tenants.models import Merchant

from .. import money
from ..email_tasks import notify_payout_sent_task
from ..models import NET_AMOUNT, Affiliate, Commission, Payout, PayoutBatch, Program
from ..queries import payable_commissions
from ..signals import commission_updated, payout_created, payout_paid, send_for, send_on_commit
from .errors import AffiliateError

# --- payouts ------------------------------------------------------------------------------------------------------


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
        send_for(payout_created, payout)
        send_on_commit(commission_updated, Commission, [(merchant.pk, c.pk) for c in items])
    return batch


def resettle_pending_payout(payout_id: int) -> None:
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
        .annotate(total=Sum(F("paid_amount") - NET_AMOUNT))
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
    Commission.objects.filter(payout=payout).update(status=Commission.Status.PAID, paid_at=now, paid_amount=NET_AMOUNT)
    payout.refresh_from_db()
    send_for(payout_paid, payout)
    send_on_commit(
        commission_updated, Commission, Commission.objects.filter(payout=payout).values_list("merchant_id", "pk")
    )
    enqueue.on_commit(notify_payout_sent_task, payout.pk)
    return payout


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
