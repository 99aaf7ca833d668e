"""Dashboard rollups of commissions: daily and monthly aggregates rebuilt from raw rows, exact at all times.

tracking.rollups.rollup_daily_stats (the daily clicks, referrals and customers) runs them in its transaction.
"""

from datetime import UTC, date, datetime, timedelta

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from ..models import (
    NET_AMOUNT,
    REVENUE_AMOUNT,
    AffiliateCommissionMonth,
    Commission,
    CommissionDailyStat,
    CommissionDirtyDay,
)


def rollup_commission_stats(start: date | None, yesterday: date) -> None:
    """Rebuilds CommissionDailyStat for the days [start, yesterday] and for every day the trigger marked dirty.

    Postgres only (the trigger is). A mark is deleted only if its version is
    still the one read here: a change committed while this runs keeps its mark,
    and readers keep reading that day raw until the next run. In the caller's
    transaction.
    """
    if connection.vendor != "postgresql":
        return
    marks = list(CommissionDirtyDay.objects.filter(day__lte=yesterday).values_list("merchant_pk", "day", "version"))

    def aggregate(qs):
        return (
            qs.annotate(d=TruncDate("created_at"))
            .values("merchant_id", "d", "currency", "status")
            .annotate(
                n=Count("*"),
                net=Sum(NET_AMOUNT),
                revenue=Sum(REVENUE_AMOUNT),
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
                net=Sum(NET_AMOUNT),
                revenue=Sum(REVENUE_AMOUNT),
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
