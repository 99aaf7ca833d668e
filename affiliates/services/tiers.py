"""Tiers and bonuses: what an affiliate's results earn beyond each payment's commission (affiliates/tiers.py).

`note_results` runs after every write that changes an affiliate's commissions (recorded, repriced, refunded, lost
in a dispute, voided by the merchant). For a program without goals (no next tier, no bonus) it costs nothing: the
program comes loaded with the affiliate. Otherwise it takes the affiliate's advisory lock (so two workers recording
two of its payments at once cannot both miss the threshold: the second measures after the first commits), measures
the results every goal needs in one aggregate query, and then:

- **Bonuses** follow the results until they are in a payout. A bonus whose threshold is reached is written once,
  as its own Commission (source type `bonus`, base 0, no referral, source id "bonus:<program>:<bonus id>:<affiliate>":
  the unique source makes it exactly once, whatever the order or repetition of events); it is held and approved
  like any commission. If refunds, lost disputes, corrections or the merchant's voids take the results back under
  the threshold, the bonus is reversed in full (voided, BELOW_THRESHOLD); when they reach it again the same row
  is restored. Once in a payout (or paid) it stays. So what a bonus is worth depends only on the results in the
  end, never on the order in which payments and refunds arrived.
- **Tiers** only go up. When the results reach the program's `tier_when` (over all time, or the last N days), the
  affiliate moves to `next_tier` at once (`moved`) or a pending promotion waits for the merchant (`pending`).
  A step is taken once: TierPromotion is unique per (affiliate, from, to). Commissions already earned keep their
  program and amounts; later payments earn by the new program. The affiliate gets an email when moved. After an
  automatic move the new program's goals are checked at once (a chain of tiers is climbed as far as the results go).

The results are the affiliate's commissions over all its programs, bonuses left out, voided ones left out:
customers are the distinct referrals with a payment not refunded in full; revenue is what was paid less refunds,
tax excluded, in the threshold's currency (REVENUE_AMOUNT, as the rules' `affiliate_revenue_gte` reads it).
A period counts the commissions recorded in the last N days.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from afficone import enqueue, rawsql

from .. import tiers
from ..email_tasks import notify_affiliate_promoted_task
from ..models import REVENUE_AMOUNT, Affiliate, Commission, CommissionType, Program, RuleSource, TierPromotion
from ..signals import commission_created, commission_updated, send_for
from ..tiers import Goal
from .errors import AffiliateError
from .notices import commission_recorded
from .programs import move_affiliate

BELOW_THRESHOLD = "Bonus reversed: the affiliate's results fell back under its threshold."
TIER = "tier"
MAX_STEPS = 10  # tiers climbed after one payment, at most (the programs' chain refuses loops anyway)


def bonus_source_id(program: Program, bonus: dict, affiliate: Affiliate) -> str:
    return f"bonus:{program.public_id}:{bonus['id']}:{affiliate.public_id}"


def program_goals(program: Program) -> dict[object, Goal]:
    """The goals the program's results are checked against: TIER for its next tier, the index of each bonus."""
    goals: dict[object, Goal] = {}
    if program.next_tier_id is not None and program.tier_when:
        goals[TIER] = Goal.of(program.tier_when, program.tier_period_days)
    for index, bonus in enumerate(program.bonuses or []):
        goals[index] = Goal.of(bonus["when"])
    return goals


def measure(affiliate: Affiliate, goals: list[Goal]) -> dict[Goal, int]:
    """The affiliate's results for each goal, in one aggregate query (see the module's docstring)."""
    distinct = list(dict.fromkeys(goals))
    if not distinct:
        return {}
    now = timezone.now()
    paid = Q(refunded_amount__lt=F("base_amount"))
    aggregates = {}
    for i, goal in enumerate(distinct):
        within = Q(created_at__gte=now - timedelta(days=goal.period_days)) if goal.period_days else Q()
        if goal.metric == tiers.CUSTOMERS:
            aggregates[f"g{i}"] = Count("referral", distinct=True, filter=within & paid)
        else:
            aggregates[f"g{i}"] = Sum(REVENUE_AMOUNT, filter=within & Q(currency=goal.currency))
    row = (
        Commission.objects.filter(affiliate_id=affiliate.pk)
        .exclude(status=Commission.Status.VOIDED)
        .exclude(source_type=Commission.SourceType.BONUS)
        .aggregate(**aggregates)
    )
    return {goal: row[f"g{i}"] or 0 for i, goal in enumerate(distinct)}


def _lock_results(affiliate: Affiliate) -> None:
    key = zlib.crc32(f"affiliate-results:{affiliate.pk}".encode())
    rawsql.advisory_xact_lock(affiliate.merchant_id, key - 2**32 if key >= 2**31 else key)


def note_results(affiliate: Affiliate) -> None:
    """After a change to the affiliate's commissions: its bonuses follow its results, and it moves up a tier if it
    reached the next one. `affiliate.program` should be loaded (then a program without goals costs no query, and
    no transaction is opened for it). Idempotent: running it again with the same results changes nothing."""
    if affiliate.program.has_goals:
        _follow_results(affiliate)


@transaction.atomic(savepoint=False)
def _follow_results(affiliate: Affiliate) -> None:
    program = affiliate.program
    _lock_results(affiliate)
    seen: set[int] = set()
    while program.has_goals and program.pk not in seen and len(seen) < MAX_STEPS:
        seen.add(program.pk)
        goals = program_goals(program)
        results = measure(affiliate, list(goals.values()))
        reached = {key: results[goal] >= goal.value for key, goal in goals.items()}
        _settle_bonuses(affiliate, program, reached)
        moved_to = _climb(affiliate, program, goals, reached)
        if moved_to is None:
            return
        program = moved_to


def _settle_bonuses(affiliate: Affiliate, program: Program, reached: dict) -> None:
    bonuses = {bonus_source_id(program, b, affiliate): (i, b) for i, b in enumerate(program.bonuses or [])}
    if not bonuses:
        return
    rows = {
        c.source_id: c
        for c in Commission.objects.filter(merchant_id=affiliate.merchant_id, source_id__in=list(bonuses))
    }
    for source_id, (index, bonus) in bonuses.items():
        row, wanted = rows.get(source_id), reached[index]
        if row is None:
            if wanted and affiliate.is_approved:
                _write_bonus(affiliate, program, index, bonus, source_id)
        elif wanted and row.status == Commission.Status.VOIDED and row.void_reason == BELOW_THRESHOLD:
            if affiliate.is_approved:
                _set_bonus(row, status=Commission.Status.PENDING, reversed_amount=0, voided_at=None, void_reason="")
        elif (
            not wanted
            and row.payout_id is None
            and row.status in (Commission.Status.PENDING, Commission.Status.APPROVED)
        ):
            _set_bonus(
                row,
                status=Commission.Status.VOIDED,
                reversed_amount=row.amount,
                voided_at=timezone.now(),
                void_reason=BELOW_THRESHOLD,
                approved_at=None,
            )


def _write_bonus(affiliate: Affiliate, program: Program, index: int, bonus: dict, source_id: str) -> None:
    now = timezone.now()
    amount, currency = bonus["bonus"]["amount"], bonus["bonus"]["currency"]
    commission = Commission(
        merchant_id=affiliate.merchant_id,
        affiliate=affiliate,
        referral=None,
        amount=amount,
        currency=currency,
        base_amount=0,
        source_type=Commission.SourceType.BONUS,
        source_id=source_id,
        rule_source=RuleSource.BONUS,
        rule_type=CommissionType.FIXED,
        rule_amount=amount,
        rule_index=index,
        rule_description=f"Bonus: {tiers.describe_bonus(bonus)}"[:255],
        program_id=program.pk,
        hold_until=now + timedelta(days=program.hold_days),
    )
    # ON CONFLICT DO NOTHING on the unique (merchant, source): a concurrent or repeated write adds nothing.
    if rawsql.insert_unless_exists(commission, ["merchant_id", "source_id"]):
        send_for(commission_created, commission)
        transaction.on_commit(lambda: commission_recorded(commission.pk))


def _set_bonus(row: Commission, **changes) -> None:
    Commission.objects.filter(pk=row.pk).update(**changes)
    for name, value in changes.items():
        setattr(row, name, value)
    send_for(commission_updated, row)


def _climb(affiliate: Affiliate, program: Program, goals: dict, reached: dict) -> Program | None:
    """Proposes or makes the move to the program's next tier if its threshold is reached; the program moved to."""
    if not reached.get(TIER) or not affiliate.is_approved or affiliate.program_id != program.pk:
        return None
    target = Program.objects.filter(
        pk=program.next_tier_id, merchant_id=affiliate.merchant_id, status=Program.Status.ACTIVE
    ).first()
    if target is None:
        return None  # archived since: nothing to move to
    automatic = program.tier_mode == Program.TierMode.AUTOMATIC
    promotion = TierPromotion(
        merchant_id=affiliate.merchant_id,
        affiliate=affiliate,
        from_program=program,
        to_program=target,
        status=TierPromotion.Status.MOVED if automatic else TierPromotion.Status.PENDING,
        reason=goals[TIER].describe()[:255],
        decided_at=timezone.now() if automatic else None,
    )
    if not rawsql.insert_unless_exists(promotion, ["affiliate_id", "from_program_id", "to_program_id"]):
        return None  # proposed (or taken, or dismissed) before
    if not automatic:
        return None
    _move(affiliate, target, promotion)
    return target


def _move(affiliate: Affiliate, target: Program, promotion: TierPromotion) -> None:
    moved = move_affiliate(affiliate, target)
    affiliate.program_id, affiliate.program = moved.program_id, target
    enqueue.on_commit(notify_affiliate_promoted_task, promotion.pk)


# --- the merchant's decisions -----------------------------------------------------------------------------------------


@transaction.atomic
def approve_promotion(promotion: TierPromotion, *, decided_by=None) -> TierPromotion:
    """The merchant approves a pending move: the affiliate moves to the next tier (payments from now on earn by
    it), gets an email, and the new program's goals are checked at once. Refused unless pending."""
    promotion = TierPromotion.objects.select_for_update().select_related("to_program").get(pk=promotion.pk)
    if not promotion.is_pending:
        raise AffiliateError(f"This move was already {promotion.get_status_display().lower()}.")
    affiliate = Affiliate.objects.select_related("program").get(pk=promotion.affiliate_id)
    TierPromotion.objects.filter(pk=promotion.pk).update(
        status=TierPromotion.Status.APPROVED, decided_at=timezone.now(), decided_by=decided_by
    )
    _move(affiliate, promotion.to_program, promotion)
    note_results(affiliate)
    promotion.refresh_from_db()
    return promotion


@transaction.atomic
def dismiss_promotion(promotion: TierPromotion, *, decided_by=None) -> TierPromotion:
    """The merchant turns a pending move down: the affiliate stays, and the same step is not proposed again."""
    updated = TierPromotion.objects.filter(pk=promotion.pk, status=TierPromotion.Status.PENDING).update(
        status=TierPromotion.Status.DISMISSED, decided_at=timezone.now(), decided_by=decided_by
    )
    promotion.refresh_from_db()
    if not updated:
        raise AffiliateError(f"This move was already {promotion.get_status_display().lower()}.")
    return promotion
