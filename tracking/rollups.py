"""The dashboard's daily rollup of clicks, referrals and customers (affiliates.DailyStat), rebuilt from raw rows.

It lives with the clicks it counts; the commission rollups it runs in the same transaction are the affiliates
app's (affiliates/services/rollups.py).
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from affiliates.models import Commission, DailyStat, Referral, RollupState
from affiliates.services import rollup_commission_stats

from .models import Click


def rollup_daily_stats(*, recompute_days: int = 2, full: bool = False, now: datetime | None = None) -> int:
    """Recomputes DailyStat for closed UTC days and moves `RollupState.closed_through` to yesterday.

    Each run rebuilds, from the raw rows, every day after the previous
    watermark plus the `recompute_days` before it (clicks buffered by the
    tracker and flushed after midnight land in a day that is rebuilt again),
    deleting and re-inserting whole days in one transaction, so rows never
    drift. Readers add raw rows after the watermark, so totals are exact.
    Idempotent; serialised by a row lock on RollupState. Returns rows written.
    """
    now = now or timezone.now()
    yesterday = now.astimezone(UTC).date() - timedelta(days=1)
    with transaction.atomic():
        RollupState.objects.get_or_create(pk=1)
        state = RollupState.objects.select_for_update().get(pk=1)
        if full or state.closed_through is None:
            first = [
                d
                for d in (
                    Click.objects.order_by("created_at").values_list("created_at", flat=True).first(),
                    Referral.objects.order_by("created_at").values_list("created_at", flat=True).first(),
                    Commission.objects.order_by("created_at").values_list("created_at", flat=True).first(),
                )
                if d is not None
            ]
            start = min(first).astimezone(UTC).date() if first else yesterday
        else:
            start = state.closed_through - timedelta(days=recompute_days - 1)
        if start > yesterday:
            rollup_commission_stats(None, yesterday)
            RollupState.objects.filter(pk=1).update(closed_through=yesterday)
            return 0
        lo = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
        hi = datetime.combine(yesterday + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        rows: dict[tuple[int, int | None, Any], dict] = defaultdict(
            lambda: {"clicks": 0, "referrals": 0, "customers": 0}
        )
        sources = (
            ("clicks", Click.objects.filter(created_at__gte=lo, created_at__lt=hi), "created_at"),
            ("referrals", Referral.objects.filter(created_at__gte=lo, created_at__lt=hi), "created_at"),
            ("customers", Referral.objects.filter(converted_at__gte=lo, converted_at__lt=hi), "converted_at"),
        )
        for name, qs, stamp in sources:
            grouped = (
                qs.annotate(day=TruncDate(stamp)).values("merchant_id", "affiliate_id", "day").annotate(n=Count("pk"))
            )
            for row in grouped.iterator():
                rows[(row["merchant_id"], row["affiliate_id"], row["day"])][name] = row["n"]
                rows[(row["merchant_id"], None, row["day"])][name] += row["n"]  # the merchant's total for the day
        DailyStat.objects.filter(day__gte=start, day__lte=yesterday).delete()
        DailyStat.objects.bulk_create(
            [DailyStat(merchant_id=m, affiliate_id=a, day=d, **values) for (m, a, d), values in rows.items()],
            batch_size=5000,
        )
        rollup_commission_stats(start, yesterday)
        RollupState.objects.filter(pk=1).update(closed_through=yesterday)
    return len(rows)
