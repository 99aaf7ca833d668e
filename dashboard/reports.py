"""The figures of the dashboard's and the portal's pages: counts, money, the chart, the top affiliates.

Every function takes the merchant (and, for the portal, the affiliate) and
filters by it: nothing here reads across tenants. Counts of clicks, referrals
and customers come from the DailyStat rollup for closed days plus the raw rows
of the days after it (see `affiliates.models.DailyStat`); a merchant's money
totals come from CommissionDailyStat the same way, except the closed days a
database trigger marked as changed since, which are read raw (see
`affiliates.models.CommissionDailyStat`). Either way the cost does not grow
with the history and the totals are exact.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from affiliates import money
from affiliates.models import (
    NET_AMOUNT,
    REVENUE_AMOUNT,
    Affiliate,
    Commission,
    CommissionDailyStat,
    CommissionDirtyDay,
    DailyStat,
    Lead,
    Payout,
    Program,
    Referral,
)
from affiliates.services.rollups import month_start, next_month
from tenants.models import Merchant
from tracking.models import Click

from .periods import Period, day_start
from .sql import top_affiliate_sums

# --- the funnel: clicks -> leads -> customers -> revenue, and how customers were won ---------------------------------


def funnel(
    merchant: Merchant,
    period: Period,
    stats: dict,
    *,
    affiliate: Affiliate | None = None,
    program: Program | None = None,
) -> dict:
    """The period's funnel beside `stats` (overview_and_series): leads reported, and the customers won by each route
    (a referral's `source`: click, lead, promotion code, manual, API), every route listed, zero or not. Two queries."""
    lo, hi = day_start(period.start), day_start(period.end + timedelta(days=1))
    scope: dict = {"merchant": merchant}
    if affiliate is not None:
        scope["affiliate"] = affiliate
    if program is not None:
        scope["affiliate__program"] = program
    lead_scope = {f"referral__{key}" if key != "merchant" else key: value for key, value in scope.items()}
    leads = Lead.objects.filter(**lead_scope, created_at__gte=lo, created_at__lt=hi).count()
    won = dict(
        Referral.objects.filter(**scope, converted_at__gte=lo, converted_at__lt=hi)
        .values("source")
        .annotate(n=Count("pk"))
        .values_list("source", "n")
    )
    customers = sum(won.values())
    sources = [
        {
            "source": value,
            "label": label,
            "customers": won.get(value, 0),
            "share": 100 * won.get(value, 0) / customers if customers else 0,
        }
        for value, label in Referral.Source.choices
    ]
    clicks = stats["clicks"]
    return {
        "steps": [
            {"name": "Clicks", "value": clicks, "rate": None},
            {"name": "Leads", "value": leads, "rate": 100 * leads / clicks if clicks else None},
            {
                "name": "Customers",
                "value": stats["customers"],
                "rate": 100 * stats["customers"] / leads if leads else None,
            },
        ],
        "revenue": stats["revenue"],
        "sources": sources,
    }


# --- counts: clicks, referrals, customers --------------------------------------------------------------------------


def _split(period: Period) -> tuple[tuple[date, date] | None, tuple[date, date] | None]:
    """(days served by the rollup, days read raw); either may be None."""
    closed = period.closed_through
    if closed is None or closed < period.start:
        return None, (period.start, period.end)
    if closed >= period.end:
        return (period.start, period.end), None
    return (period.start, closed), (closed + timedelta(days=1), period.end)


def _raw_counts(
    merchant: Merchant, start: date, end: date, affiliate: Affiliate | None, by: str | None, ids, program=None
):
    """Raw clicks/referrals/customers between two days, grouped by `by` ("day", "affiliate" or None)."""
    lo, hi = day_start(start), day_start(end + timedelta(days=1))
    scope: dict = {"merchant": merchant}
    if affiliate is not None:
        scope["affiliate"] = affiliate
    if program is not None:
        scope["affiliate__program"] = program
    if ids is not None:
        scope["affiliate_id__in"] = ids
    sources = {
        "clicks": Click.objects.filter(**scope, created_at__gte=lo, created_at__lt=hi),
        "referrals": Referral.objects.filter(**scope, created_at__gte=lo, created_at__lt=hi),
        "customers": Referral.objects.filter(**scope, converted_at__gte=lo, converted_at__lt=hi),
    }
    result: dict = defaultdict(lambda: {"clicks": 0, "referrals": 0, "customers": 0})
    for name, qs in sources.items():
        stamp = "converted_at" if name == "customers" else "created_at"
        if by == "day":
            rows = qs.annotate(k=TruncDate(stamp)).values("k").annotate(n=Count("pk")).values_list("k", "n")
        elif by == "affiliate":
            rows = qs.values("affiliate_id").annotate(n=Count("pk")).values_list("affiliate_id", "n")
        else:
            rows = [(None, qs.count())]
        for key, n in rows:
            result[key][name] += n
    return result


def _rollup_counts(
    merchant: Merchant, start: date, end: date, affiliate: Affiliate | None, by: str | None, ids, program=None
):
    qs = DailyStat.objects.for_merchant(merchant).filter(day__gte=start, day__lte=end)
    if affiliate is not None:
        qs = qs.filter(affiliate=affiliate)
    elif ids is not None:
        qs = qs.filter(affiliate_id__in=ids)
    elif program is not None:
        qs = qs.filter(affiliate__program=program)  # the affiliates' own rows
    else:
        qs = qs.filter(affiliate=None)  # the merchant's own rows: one per day
    sums = {"clicks": Sum("clicks"), "referrals": Sum("referrals"), "customers": Sum("customers")}
    result: dict = defaultdict(lambda: {"clicks": 0, "referrals": 0, "customers": 0})
    if by is None:
        row = qs.aggregate(**sums)
        result[None] = {k: v or 0 for k, v in row.items()}
        return result
    key = "day" if by == "day" else "affiliate_id"
    for row in qs.values(key).annotate(**sums):
        result[row[key]] = {k: row[k] or 0 for k in ("clicks", "referrals", "customers")}
    return result


def counts(
    merchant: Merchant,
    period: Period,
    *,
    affiliate: Affiliate | None = None,
    by: str | None = None,
    affiliate_ids=None,
    program: Program | None = None,
) -> dict:
    """Clicks, referrals and customers in the period: {key: {...}} with key None, a day, or an affiliate id.

    `by="affiliate"` needs `affiliate_ids` (a page of affiliates), so the work is bounded by the page, not the tenant.
    `program`: of the affiliates in that program now.
    """
    if by == "affiliate" and affiliate_ids is None:
        raise ValueError("counts by affiliate need the affiliate ids")
    ids = list(affiliate_ids) if affiliate_ids is not None else None
    rolled, raw = _split(period)
    total: dict = defaultdict(lambda: {"clicks": 0, "referrals": 0, "customers": 0})
    for part, reader in ((rolled, _rollup_counts), (raw, _raw_counts)):
        if part is None:
            continue
        for key, values in reader(merchant, part[0], part[1], affiliate, by, ids, program).items():
            for name, n in values.items():
                total[key][name] += n
    return total


# --- money ---------------------------------------------------------------------------------------------------------


@dataclass
class Money:
    """Amounts per currency, formatted for display: {"usd": 1234} → "$12.34"."""

    amounts: dict = field(default_factory=dict)
    currency: str = ""  # shown as zero in this currency when empty

    def add(self, currency: str, amount: int) -> None:
        if amount:
            self.amounts[currency] = self.amounts.get(currency, 0) + amount

    def __str__(self) -> str:
        if not self.amounts:
            return money.format_money(0, self.currency) if self.currency else "—"
        return " + ".join(money.format_money(a, c) for c, a in sorted(self.amounts.items(), key=lambda kv: -kv[1]))

    def __bool__(self) -> bool:
        return bool(self.amounts)


def _commission_rows(
    merchant: Merchant, period: Period, affiliate: Affiliate | None, *, by_day: bool, program: Program | None = None
):
    qs = Commission.objects.for_merchant(merchant).filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
    if affiliate is not None:
        qs = qs.filter(affiliate=affiliate)
    if program is not None:
        qs = qs.filter(program=program)
    keys = ["status", "currency"]
    if by_day:
        qs = qs.annotate(d=TruncDate("created_at"))
        keys.append("d")
    return (
        qs.values(*keys)
        .annotate(
            net=Sum(NET_AMOUNT),
            revenue=Sum(REVENUE_AMOUNT),
            n=Count("*"),  # not Count("pk"): the covering index has no id, and an index-only scan needs none
        )
        .order_by()
    )


def _commission_day_rows(
    merchant: Merchant, period: Period, affiliate: Affiliate | None, program: Program | None = None
) -> list[dict]:
    """The period's commissions by status, currency and day, as `_commission_rows(by_day=True)` gives them.

    For a merchant's own totals on Postgres, closed days come from
    CommissionDailyStat except the days the trigger marked dirty, which are
    read raw with the days after the watermark: exact, and one row per day,
    status and currency whatever the number of commissions.
    """
    closed = period.closed_through
    if (
        affiliate is not None
        or program is not None  # the rollup is per merchant: one program's commissions are read raw
        or connection.vendor != "postgresql"
        or closed is None
        or closed < period.start
    ):
        return list(_commission_rows(merchant, period, affiliate, by_day=True, program=program))
    rolled_end = min(closed, period.end)
    dirty = set(
        CommissionDirtyDay.objects.filter(
            merchant_pk=merchant.pk, day__gte=period.start, day__lte=rolled_end
        ).values_list("day", flat=True)
    )
    rows = [
        {"status": status, "currency": currency, "d": day, "n": n, "net": net, "revenue": revenue}
        for status, currency, day, n, net, revenue in CommissionDailyStat.objects.for_merchant(merchant)
        .filter(day__gte=period.start, day__lte=rolled_end)
        .exclude(day__in=dirty)
        .values_list("status", "currency", "day", "payments", "net", "revenue")  # tuples: no model instances to build
    ]
    raw = Q(pk__in=[])
    if rolled_end < period.end:
        raw |= Q(created_at__gte=day_start(rolled_end + timedelta(days=1)), created_at__lt=period.end_at)
    for day in dirty:
        raw |= Q(created_at__gte=day_start(day), created_at__lt=day_start(day + timedelta(days=1)))
    if rolled_end < period.end or dirty:
        rows += list(
            Commission.objects.for_merchant(merchant)
            .filter(raw)
            .annotate(d=TruncDate("created_at"))
            .values("status", "currency", "d")
            .annotate(
                net=Sum(NET_AMOUNT),
                revenue=Sum(REVENUE_AMOUNT),
                n=Count("*"),
            )
            .order_by()
        )
    return rows


def _totals_from(rows, currency: str = "") -> dict:
    totals = {name: Money(currency=currency) for name in ("revenue", "earned", "owed", "pending", "approved", "paid")}
    payments, voided = 0, 0
    for row in rows:
        status, currency = row["status"], row["currency"]
        if status == Commission.Status.VOIDED:
            voided += row["n"]
            continue
        payments += row["n"]
        totals["revenue"].add(currency, row["revenue"] or 0)
        totals["earned"].add(currency, row["net"] or 0)
        totals[status].add(currency, row["net"] or 0)
        if status in (Commission.Status.PENDING, Commission.Status.APPROVED):
            totals["owed"].add(currency, row["net"] or 0)
    totals["payments"] = payments
    totals["voided_count"] = voided
    return totals


def commission_totals(
    merchant: Merchant, period: Period, *, affiliate: Affiliate | None = None, currency: str = ""
) -> dict:
    """Revenue, and commissions earned, owed (pending + approved) and paid, per currency.

    Counts the commissions created in the period.

    Read live (one aggregate through the covering index commission_overview_idx) because a commission's status and
    reversals change long after its day.
    """
    return _totals_from(_commission_rows(merchant, period, affiliate, by_day=False), currency)


def main_currency(merchant: Merchant) -> str:
    recent = (
        Commission.objects.for_merchant(merchant).order_by("-created_at").values_list("currency", flat=True).first()
    )
    if recent:
        return recent
    program = merchant.programs.filter(is_default=True).only("commission_currency").first()
    return program.commission_currency if program else "usd"


def overview_and_series(
    merchant: Merchant, period: Period, *, affiliate: Affiliate | None = None, program: Program | None = None
) -> tuple[dict, dict]:
    """The period's totals and its per-day chart data, from one pass over each source.

    Counts: the rollup plus the open days (see `counts`). Money: one aggregate of the period's commissions by status,
    currency and day, which gives both the totals and the chart's commission series (main currency). `program`: the
    clicks, referrals and customers of its affiliates, and the commissions earned under it.
    """
    by_day = counts(merchant, period, affiliate=affiliate, by="day", program=program)
    rows = _commission_day_rows(merchant, period, affiliate, program)
    totals = _totals_from(rows)
    total_counts = {"clicks": 0, "referrals": 0, "customers": 0}
    for values in by_day.values():
        for name in total_counts:
            total_counts[name] += values[name]
    currency = (
        max(totals["earned"].amounts, key=totals["earned"].amounts.get) if totals["earned"] else main_currency(merchant)
    )
    earned: dict = defaultdict(int)
    for row in rows:
        if row["currency"] == currency and row["status"] != Commission.Status.VOIDED:
            earned[row["d"]] += row["net"] or 0
    for value in totals.values():
        if isinstance(value, Money):
            value.currency = currency
    stats = {
        **total_counts,
        **totals,
        "conversion_rate": (100 * total_counts["customers"] / total_counts["referrals"])
        if total_counts["referrals"]
        else None,
    }
    scale = 10 ** money.exponent(currency)
    series: dict = {
        "days": [],
        "clicks": [],
        "referrals": [],
        "customers": [],
        "commissions": [],
        "currency": currency.upper(),
        "symbol": money.SYMBOLS.get(currency, ""),
    }
    day = period.start
    while day <= period.end:
        values = by_day.get(day, {"clicks": 0, "referrals": 0, "customers": 0})
        series["days"].append(int(day_start(day).timestamp()))
        for name in ("clicks", "referrals", "customers"):
            series[name].append(values[name])
        series["commissions"].append(earned.get(day, 0) / scale)  # the chart's axis only; money stays integer elsewhere
        day += timedelta(days=1)
    return stats, series


def _month_split(merchant: Merchant, period: Period) -> tuple[list[date], list[tuple[date, date]]]:
    """(months read from AffiliateCommissionMonth, day ranges read raw) that together cover the period once.

    A month comes from the rollup when it lies whole inside the period, on or before the watermark, and holds no day
    the trigger marked since (one query); the rest (the partial months at both ends, the open days, marked months) is
    read raw: at most about two months of rows, whatever the length of the history.
    """
    closed = period.closed_through
    months: list[date] = []
    if connection.vendor == "postgresql" and closed is not None:
        rolled_end = min(closed, period.end)
        month = month_start(period.start)
        if month < period.start:
            month = next_month(month)
        while next_month(month) - timedelta(days=1) <= rolled_end:
            months.append(month)
            month = next_month(month)
    if months:
        dirty = {
            month_start(day)
            for day in CommissionDirtyDay.objects.filter(
                merchant_pk=merchant.pk, day__gte=months[0], day__lt=next_month(months[-1])
            ).values_list("day", flat=True)
        }
        months = [m for m in months if m not in dirty]
    raw, cursor = [], period.start
    for month in months:
        if month > cursor:
            raw.append((cursor, month - timedelta(days=1)))
        cursor = next_month(month)
    if cursor <= period.end:
        raw.append((cursor, period.end))
    return months, raw


def top_affiliates(merchant: Merchant, period: Period, *, limit: int = 5, program: Program | None = None) -> list[dict]:
    """The affiliates who earned most in the period (largest amount in one currency first), with their counts.

    Voided commissions do not count. Whole closed months come from AffiliateCommissionMonth, the rest raw (see
    `_month_split`); both are summed per affiliate and currency in one query, so the ranking is exact. One program's
    (commissions earned under it) are read raw: the monthly rollup is per affiliate, not per program.
    """
    if program is None:
        months, raw_ranges = _month_split(merchant, period)
    else:
        months, raw_ranges = [], [(period.start, period.end)]
    # One statement: each raw range an index-only scan of commission_overview_idx, the closed months their rollup.
    rows = top_affiliate_sums(
        merchant.pk,
        raw_ranges=[(day_start(first), day_start(last + timedelta(days=1))) for first, last in raw_ranges],
        months=months,
        limit=limit * 3,
        program_id=program.pk if program is not None else None,
    )
    picked: dict[int, dict] = {}
    for row in rows:
        entry = picked.setdefault(row["affiliate_id"], {"revenue": Money(), "earned": Money(), "payments": 0})
        entry["revenue"].add(row["currency"], row["revenue"] or 0)
        entry["earned"].add(row["currency"], row["earned"] or 0)
        entry["payments"] += row["n"]
    ids = list(picked)[:limit]
    affiliates = Affiliate.objects.for_merchant(merchant).in_bulk(ids)
    stats = counts(merchant, period, by="affiliate", affiliate_ids=ids)
    return [
        {"affiliate": affiliates[pk], **picked[pk], **stats.get(pk, {"clicks": 0, "referrals": 0, "customers": 0})}
        for pk in ids
        if pk in affiliates
    ]


def affiliate_stats(merchant: Merchant, affiliates: list[Affiliate], period: Period) -> None:
    """Sets `.stats` on each affiliate of a page: counts and money, in a fixed number of queries."""
    ids = [a.pk for a in affiliates]
    if not ids:
        return
    by_affiliate = counts(merchant, period, by="affiliate", affiliate_ids=ids)
    money_rows = (
        Commission.objects.for_merchant(merchant)
        .filter(affiliate_id__in=ids)
        .exclude(status=Commission.Status.VOIDED)
        .values("affiliate_id", "status", "currency")
        .annotate(net=Sum(NET_AMOUNT), revenue=Sum(REVENUE_AMOUNT))
    )
    currency = affiliates[0].program.commission_currency
    earned: dict = defaultdict(
        lambda: {
            "revenue": Money(currency=currency),
            "owed": Money(currency=currency),
            "paid": Money(currency=currency),
        }
    )
    for row in money_rows:
        entry = earned[row["affiliate_id"]]
        entry["revenue"].add(row["currency"], row["revenue"] or 0)
        entry["paid" if row["status"] == Commission.Status.PAID else "owed"].add(row["currency"], row["net"] or 0)
    for affiliate in affiliates:
        affiliate.stats = {
            **by_affiliate.get(affiliate.pk, {"clicks": 0, "referrals": 0, "customers": 0}),
            **earned[affiliate.pk],
        }


def affiliate_money(merchant: Merchant) -> dict:
    """{affiliate id: {currency: {"owed": n, "paid": n}}}, all time, net of reversals (for the affiliates export)."""
    result: dict = defaultdict(lambda: defaultdict(lambda: {"owed": 0, "paid": 0}))
    rows = (
        Commission.objects.for_merchant(merchant)
        .exclude(status=Commission.Status.VOIDED)
        .values("affiliate_id", "currency", "status")
        .annotate(net=Sum(NET_AMOUNT))
        .order_by()
    )
    for row in rows:
        key = "paid" if row["status"] == Commission.Status.PAID else "owed"
        result[row["affiliate_id"]][row["currency"]][key] += row["net"] or 0
    return result


def payout_totals(merchant: Merchant, *, affiliate: Affiliate | None = None, currency: str = "") -> dict:
    qs = Payout.objects.for_merchant(merchant)
    if affiliate is not None:
        qs = qs.filter(affiliate=affiliate)
        currency = currency or affiliate.program.commission_currency
    result = {"pending": Money(currency=currency), "paid": Money(currency=currency)}
    for row in qs.values("status", "currency").annotate(s=Sum("amount")):
        result[row["status"]].add(row["currency"], row["s"] or 0)
    return result
