"""Dashboard rollups: daily and monthly aggregates rebuilt from raw rows, exact at all times."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import Commission, Referral

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

    from ..models import DailyStat, RollupState

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

    from ..models import CommissionDailyStat, CommissionDirtyDay

    if connection.vendor != "postgresql":
        return
    marks = list(CommissionDirtyDay.objects.filter(day__lte=yesterday).values_list("merchant_pk", "day", "version"))

    def aggregate(qs):
        return (
            qs.annotate(d=TruncDate("created_at"))
            .values("merchant_id", "d", "currency", "status")
            .annotate(
                n=Count("*"),
                net=Sum(F("amount") - F("reversed_amount")),
                revenue=Sum(F("base_amount") - F("refunded_amount")),
            )
            .order_by()
        )

    def write(rows) -> None:
        CommissionDailyStat.objects.bulk_create(
            [
                CommissionDailyStat(
                    merchant_id=r["merchant_id"],
                    day=r["d"],
                    currency=r["currency"],
                    status=r["status"],
                    payments=r["n"],
                    net=r["net"] or 0,
                    revenue=r["revenue"] or 0,
                )
                for r in rows
            ],
            batch_size=5000,
        )

    def bounds(first, last):
        return (
            datetime.combine(first, datetime.min.time(), tzinfo=UTC),
            datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
        )

    if start is not None:
        lo, hi = bounds(start, yesterday)
        rows = list(aggregate(Commission.objects.filter(created_at__gte=lo, created_at__lt=hi)).iterator())
        CommissionDailyStat.objects.filter(day__gte=start, day__lte=yesterday).delete()
        write(rows)
    for merchant_pk, day in {(m, d) for m, d, _ in marks if start is None or d < start}:
        lo, hi = bounds(day, day)
        rows = list(
            aggregate(Commission.objects.filter(merchant_id=merchant_pk, created_at__gte=lo, created_at__lt=hi))
        )
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

    from ..models import AffiliateCommissionMonth

    def rebuild(month, merchant_pk=None) -> None:
        lo = datetime.combine(month, datetime.min.time(), tzinfo=UTC)
        hi = datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC)
        qs = Commission.objects.filter(created_at__gte=lo, created_at__lt=hi).exclude(status=Commission.Status.VOIDED)
        old = AffiliateCommissionMonth.objects.filter(month=month)
        if merchant_pk is not None:
            qs, old = qs.filter(merchant_id=merchant_pk), old.filter(merchant_id=merchant_pk)
        rows = (
            qs.values("merchant_id", "affiliate_id", "currency")
            .annotate(
                n=Count("*"),
                net=Sum(F("amount") - F("reversed_amount")),
                revenue=Sum(F("base_amount") - F("refunded_amount")),
            )
            .order_by()
        )
        rows = list(rows.iterator())
        old.delete()
        AffiliateCommissionMonth.objects.bulk_create(
            [
                AffiliateCommissionMonth(
                    merchant_id=r["merchant_id"],
                    affiliate_id=r["affiliate_id"],
                    month=month,
                    currency=r["currency"],
                    payments=r["n"],
                    net=r["net"] or 0,
                    revenue=r["revenue"] or 0,
                )
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
