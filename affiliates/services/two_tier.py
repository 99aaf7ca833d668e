"""Two-tier programs: an affiliate's parent (the affiliate it joined through) and the parent's share of its
commissions.

Parents. `Affiliate.parent` is set when an affiliate signs up on a program's public page while the visitor's
referral (the `afficone_ref` cookie) or the page's `?ref=` names another approved affiliate of the same merchant, or
by the merchant on the affiliate's page. Never itself, never another merchant's affiliate, never its own
sub-affiliate.

Commissions. When a commission of a sub-affiliate is written under a program with `two_tier` on, its parent, if
approved at that moment, gets a commission of source type `two_tier` whose `source_id` is
"two_tier:<the child's public_id>" (unique per merchant, so it is written exactly once):

- amount: `two_tier_bps` of the child's amount (`money.percent_of`, rounded half-up to the minor unit); base amount 0
  (the payment is the child's: revenue is not counted twice); currency, program, hold and recurring flag the child's;
- reversed: `amount * child reversed / child amount` (`money.proportion`, rounded half-up), the whole amount once
  the child is voided (refunded in full, dispute lost, voided by the merchant): never more than the amount, and the
  amount exactly when the child is reversed in full; held while the child is held by a dispute;
- one level only: a two-tier commission earns nobody a share; and never for itself (a check constraint).

Every change to the child (`commissions.py`: repriced, refunded, held, settled, voided) calls
`follow_sub_affiliate`, which derives the parent's commission from the child's current state, so it ends the same
whatever order the child's events came in. A parent's commission that is paid or in a payout keeps its amount and
its reversal only grows (what was paid and is reversed later is deducted from the next payout, as for any
commission); one the merchant voided is left alone.
"""

from django.db import transaction
from django.utils import timezone

from afficone import rawsql
from tenants.models import Merchant

from .. import money
from ..models import Affiliate, Commission, CommissionType, Program, Referral, RuleSource
from ..queries import code_holder
from ..rule_words import percent_text
from ..signals import affiliate_updated, commission_created, commission_updated, send_for
from .errors import AffiliateError
from .payouts import resettle_pending_payout

SOURCE_PREFIX = "two_tier:"
VOID_REASON = "The sub-affiliate's commission was voided."

# --- parents ------------------------------------------------------------------------------------------------------


def referring_affiliate(merchant: Merchant, reference: str | None) -> Affiliate | None:
    """The approved affiliate of `merchant` that `reference` names: a written referral's id (the `afficone_ref`
    cookie) or an affiliate's code (`?ref=CODE`). Reads only: no referral is created for a code."""
    reference = (reference or "").strip()
    if not reference or len(reference) > 200:
        return None
    affiliate_id = (
        Referral.objects.for_merchant(merchant).filter(rid=reference).values_list("affiliate_id", flat=True).first()
    )
    if affiliate_id is not None:
        affiliate = Affiliate.objects.for_merchant(merchant).filter(pk=affiliate_id).first()
    else:
        affiliate = code_holder(merchant.pk, reference)
    return affiliate if affiliate is not None and affiliate.is_approved else None


def check_parent(affiliate: Affiliate, parent: Affiliate | None) -> None:
    """AffiliateError unless `parent` may be `affiliate`'s parent (None always may: no parent)."""
    if parent is None:
        return
    if parent.merchant_id != affiliate.merchant_id:
        raise AffiliateError("Unknown affiliate.", field="parent")
    if parent.pk == affiliate.pk:
        raise AffiliateError("An affiliate cannot be its own parent.", field="parent")
    if parent.parent_id == affiliate.pk:
        raise AffiliateError(
            f"{parent.name or parent.email} joined through {affiliate.name or affiliate.email}: it cannot be its "
            "parent too.",
            field="parent",
        )


@transaction.atomic
def set_parent(affiliate: Affiliate, parent: Affiliate | None) -> Affiliate:
    """The merchant names (or removes) the affiliate an affiliate joined through. Its commissions from now on give
    the new parent its share; those already recorded keep theirs."""
    check_parent(affiliate, parent)
    parent_id = parent.pk if parent is not None else None
    if affiliate.parent_id != parent_id:
        Affiliate.objects.filter(pk=affiliate.pk).update(parent_id=parent_id)
        send_for(affiliate_updated, affiliate)
    affiliate.refresh_from_db()
    return affiliate


# --- commissions --------------------------------------------------------------------------------------------------


def source_id_for(child: Commission) -> str:
    return f"{SOURCE_PREFIX}{child.public_id}"


def record_two_tier_commission(child: Commission, *, affiliate: Affiliate, program: Program) -> Commission | None:
    """Writes the parent's share of a new commission `child` of `affiliate` under `program`, once; returns it, or
    None when nothing is written (no parent, two-tier off, the parent not approved, nothing to share, or recorded
    before). Costs no query when the affiliate has no parent or the program is not two-tier."""
    if (
        child.source_type == Commission.SourceType.TWO_TIER
        or not program.two_tier
        or affiliate.parent_id is None
        or affiliate.parent_id == affiliate.pk
        or child.is_self_referral
        or child.status == Commission.Status.VOIDED
    ):
        return None
    amount = money.percent_of(child.amount, program.two_tier_bps)
    if amount <= 0:
        return None
    parent = (
        Affiliate.objects.for_merchant(child.merchant_id)
        .filter(pk=affiliate.parent_id, status=Affiliate.Status.APPROVED)
        .first()
    )
    if parent is None:
        return None
    share = Commission(
        merchant_id=child.merchant_id,
        affiliate=parent,
        referral=None,
        status=Commission.Status.PENDING,
        amount=amount,
        reversed_amount=_reversed(amount, child),
        currency=child.currency,
        base_amount=0,
        source_type=Commission.SourceType.TWO_TIER,
        source_id=source_id_for(child),
        rule_source=RuleSource.TWO_TIER,
        rule_type=CommissionType.PERCENT,
        rule_bps=program.two_tier_bps,
        program_id=child.program_id or program.pk,
        rule_description=f"{percent_text(program.two_tier_bps)} of {affiliate.code}'s commission"[:255],
        is_recurring=child.is_recurring,
        is_on_hold=child.is_on_hold,
        hold_until=child.hold_until,
    )
    if not rawsql.insert_unless_exists(share, ["merchant_id", "source_id"]):
        return None
    send_for(commission_created, share)
    return share


def _is_gone(child: Commission) -> bool:
    """Whether nothing of the child's commission is left to share: voided, or reversed in full."""
    return child.status == Commission.Status.VOIDED or child.amount <= 0 or child.reversed_amount >= child.amount


def _reversed(amount: int, child: Commission) -> int:
    if _is_gone(child):
        return amount
    return min(money.proportion(amount, child.reversed_amount, child.amount), amount)


def follow_sub_affiliate(child: Commission, *, may_create: bool = False) -> tuple[Commission | None, bool]:
    """Brings the parent's commission for `child` in line with the child's current state (module docstring);
    returns (the parent's commission or None, whether it was just written). `may_create`: write it if it is
    missing (a repriced child may have become worth sharing), as `record_two_tier_commission` would."""
    if child.source_type == Commission.SourceType.TWO_TIER:
        return None, False
    share = (
        Commission.objects.select_for_update()
        .filter(merchant_id=child.merchant_id, source_id=source_id_for(child))
        .first()
    )
    if share is None:
        if not may_create:
            return None, False
        affiliate = Affiliate.objects.select_related("program").get(pk=child.affiliate_id)
        program = Program.objects.filter(pk=child.program_id).first() or affiliate.program
        created = record_two_tier_commission(child, affiliate=affiliate, program=program)
        return created, created is not None
    if share.status == Commission.Status.VOIDED and share.void_reason != VOID_REASON:
        return share, False  # voided by the merchant
    frozen = share.status == Commission.Status.PAID or share.payout_id is not None
    amount = share.amount if frozen else money.percent_of(child.amount, share.rule_bps or 0)
    reversed_amount = _reversed(amount, child)
    if frozen:
        reversed_amount = max(reversed_amount, share.reversed_amount)
    updates: dict = {"amount": amount, "reversed_amount": reversed_amount, "is_on_hold": child.is_on_hold}
    if share.status != Commission.Status.PAID:
        if reversed_amount >= amount:
            updates.update(status=Commission.Status.VOIDED, void_reason=VOID_REASON)
            if share.status != Commission.Status.VOIDED:
                updates["voided_at"] = timezone.now()
        elif share.status == Commission.Status.VOIDED:  # the child is worth something again (repriced)
            updates.update(
                status=Commission.Status.APPROVED if share.approved_at else Commission.Status.PENDING,
                voided_at=None,
                void_reason="",
            )
    if all(getattr(share, name) == value for name, value in updates.items()):
        return share, False
    Commission.objects.filter(pk=share.pk).update(**updates)
    share.refresh_from_db()
    if share.payout_id is not None:
        resettle_pending_payout(share.payout_id)
        share.refresh_from_db()
    send_for(commission_updated, share)
    return share, False
