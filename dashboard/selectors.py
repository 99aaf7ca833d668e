"""Reads of the dashboard's lists: affiliates, commissions (keyset pages), payout batches, the onboarding checklist.

Each takes the merchant and filters by it. The figures of the pages are in dashboard/reports.py.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Q, Sum

from affiliates import tiers
from affiliates.models import NET_AMOUNT, Affiliate, Commission, Payout, Program, Referral, TierPromotion
from affiliates.queries import payable_commissions
from stripe_integration.models import StripeEvent
from tenants.models import Merchant
from tracking.models import SeenDomain

from .periods import Period
from .reports import Money


def annotate_batches(merchant: Merchant, batches: list) -> None:
    """Sets on each batch of a page: its payouts, its total per currency, how many are unpaid or lack a PayPal email."""
    payouts = (
        Payout.objects.for_merchant(merchant)
        .filter(batch__in=batches)
        .select_related("affiliate")
        .order_by("affiliate__email", "currency")
    )
    by_batch: dict = defaultdict(list)
    for payout in payouts:
        by_batch[payout.batch_id].append(payout)
    for batch in batches:
        batch.payout_rows = by_batch.get(batch.pk, [])
        batch.total = Money()
        for payout in batch.payout_rows:
            batch.total.add(payout.currency, payout.amount)
        batch.pending_count = sum(p.status == Payout.Status.PENDING for p in batch.payout_rows)
        batch.missing_paypal = sum(not p.affiliate.paypal_email for p in batch.payout_rows)


def payable_totals(merchant: Merchant) -> dict:
    """What a new batch would pay now: (affiliates due, Money)."""
    groups: dict = defaultdict(int)
    for row in (
        payable_commissions(merchant)
        .filter(affiliate__status=Affiliate.Status.APPROVED)
        .values("affiliate_id", "currency", "affiliate__program__min_payout_amount")
        .annotate(s=Sum(NET_AMOUNT))
    ):
        key = (row["affiliate_id"], row["currency"], max(row["affiliate__program__min_payout_amount"], 1))
        groups[key] += row["s"] or 0
    total, due_affiliates, below = Money(), set(), 0
    for (affiliate_id, currency, minimum), amount in groups.items():
        if amount >= minimum:
            total.add(currency, amount)
            due_affiliates.add(affiliate_id)
        else:
            below += 1
    return {"total": total, "affiliates": len(due_affiliates), "below_minimum": below}


def onboarding_steps(merchant: Merchant) -> list[dict]:
    """The onboarding checklist, each step with whether it is done (read from the data it produces)."""
    program = merchant.programs.filter(is_default=True).first()
    has_attributed = (
        Referral.objects.for_merchant(merchant).filter(converted_at__isnull=False).exists()
        or StripeEvent.objects.for_merchant(merchant).filter(status=StripeEvent.Status.PROCESSED).exists()
    )
    return [
        {"key": "stripe", "title": "Connect Stripe", "done": merchant.is_stripe_connected},
        {
            "key": "script",
            "title": "Install the tracking script",
            "done": SeenDomain.objects.for_merchant(merchant).exists(),
        },
        {"key": "checkout", "title": "Pass the referral to your checkout", "done": has_attributed},
        {"key": "program", "title": "Review your commission program", "done": bool(program and program.reviewed_at)},
        {
            "key": "affiliate",
            "title": "Invite your first affiliate",
            "done": Affiliate.objects.for_merchant(merchant).exists(),
        },
    ]


def program_filter(merchant: Merchant, code: str) -> Program | None:
    """The merchant's program named by a list's `?program=` (its id), or None for none or an unknown one."""
    try:
        return Program.objects.for_merchant(merchant).filter(public_id=uuid.UUID(code)).first() if code else None
    except ValueError:
        return None


def pending_promotions(merchant: Merchant, *, affiliate: Affiliate | None = None, limit: int = 20) -> list:
    """Moves up a tier waiting for the merchant's approval, newest first (the overview's, or one affiliate's)."""
    pending = TierPromotion.objects.for_merchant(merchant).filter(status=TierPromotion.Status.PENDING)
    if affiliate is not None:
        pending = pending.filter(affiliate=affiliate)
    return list(
        pending.select_related("affiliate", "from_program", "to_program").order_by("-created_at", "-pk")[:limit]
    )


def program_goals_text(program: Program) -> list[str]:
    """The program's next tier and bonuses in words, for the affiliate's page."""
    texts = []
    if program.next_tier_id is not None and program.tier_when:
        mode = "" if program.tier_mode == Program.TierMode.AUTOMATIC else ", after your approval"
        goal = tiers.Goal.of(program.tier_when, program.tier_period_days).describe()
        texts.append(f"Moves up to {program.next_tier.name} at {goal}{mode}.")
    texts += [f"Bonus of {tiers.describe_bonus(bonus)}." for bonus in program.bonuses or []]
    return texts


def programs_of(merchant: Merchant):
    """The merchant's programs for a filter or a choice: the default first, then by name; archived ones last."""
    return Program.objects.for_merchant(merchant).order_by("status", "-is_default", "name", "pk")


def status_counts(merchant: Merchant, program: Program | None = None) -> dict:
    scope = Affiliate.objects.for_merchant(merchant)
    if program is not None:
        scope = scope.filter(program=program)
    rows = scope.values("status").annotate(n=Count("pk"))
    result = dict.fromkeys(Affiliate.Status.values, 0)
    result.update({r["status"]: r["n"] for r in rows})
    result["all"] = sum(result.values())
    return result


def commission_filter(
    merchant: Merchant,
    *,
    status: str = "",
    affiliate: Affiliate | None = None,
    period: Period | None = None,
    program: Program | None = None,
):
    qs = Commission.objects.for_merchant(merchant)
    if program is not None:
        qs = qs.filter(program=program)  # earned under it
    if status == "owed":
        qs = qs.filter(status__in=[Commission.Status.PENDING, Commission.Status.APPROVED])
    elif status in Commission.Status.values:
        qs = qs.filter(status=status)
    if affiliate is not None:
        qs = qs.filter(affiliate=affiliate)
    if period is not None:
        qs = qs.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
    return qs


# --- the commissions list: keyset pages ------------------------------------------------------------------------------


class BadCursor(ValueError):
    """A page cursor that is not one this list wrote."""


def _cursor(commission: Commission) -> str:
    """ "<microseconds since the epoch>-<id>": the row's place in the list's order (newest first, id breaks ties)."""
    delta = commission.created_at - datetime(1970, 1, 1, tzinfo=UTC)
    return f"{(delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds}-{commission.pk}"


def _parse_cursor(text: str) -> tuple[datetime, int]:
    micros, _, pk = text.partition("-")
    if not (micros.isdigit() and pk.isdigit()) or len(micros) > 18 or len(pk) > 18:
        raise BadCursor(text)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros)), int(pk)


@dataclass
class CommissionPage:
    """One page of the commissions list, found by its neighbour's cursor instead of an offset: the cost is the same
    on the last page as on the first (an index range scan of `commission_list_idx` from the cursor)."""

    object_list: list
    count: int
    newer: str | None  # cursor for ?before=, None on the first page
    older: str | None  # cursor for ?after=, None on the last page

    @property
    def paginator(self):  # `page.paginator.count`, as on a Django Page
        return self


def commission_page(qs, *, after: str = "", before: str = "", per_page: int = 50) -> CommissionPage:
    """The `per_page` commissions of `qs` older than the `after` cursor, or newer than the `before` cursor, or the
    newest; 3 queries whatever the page (rows, affiliates joined; the count). Raises BadCursor."""
    qs = qs.select_related("affiliate", "program")
    newest_first = qs.order_by("-created_at", "-pk")
    if before:
        at, pk = _parse_cursor(before)
        rows = list(
            qs.filter(Q(created_at__gte=at) & (Q(created_at__gt=at) | Q(pk__gt=pk))).order_by("created_at", "pk")[
                : per_page + 1
            ]
        )
        more_newer = len(rows) > per_page
        rows = rows[:per_page][::-1]
        newer, older = (_cursor(rows[0]) if more_newer and rows else None), (_cursor(rows[-1]) if rows else None)
    else:
        if after:
            at, pk = _parse_cursor(after)
            newest_first = newest_first.filter(Q(created_at__lte=at) & (Q(created_at__lt=at) | Q(pk__lt=pk)))
        rows = list(newest_first[: per_page + 1])
        more_older = len(rows) > per_page
        rows = rows[:per_page]
        newer = _cursor(rows[0]) if after and rows else None
        older = _cursor(rows[-1]) if more_older else None
    return CommissionPage(rows, qs.count(), newer, older)


def search_affiliates(merchant: Merchant, *, q: str = "", status: str = "", program: Program | None = None):
    qs = Affiliate.objects.for_merchant(merchant)
    if program is not None:
        qs = qs.filter(program=program)
    if q:
        qs = qs.filter(Q(email__icontains=q) | Q(name__icontains=q) | Q(code__icontains=q))
    if status in Affiliate.Status.values:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")
