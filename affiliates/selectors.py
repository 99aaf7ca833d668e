"""Read-side queries shared by the dashboard, the portal and the benches.

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
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from tenants.models import Merchant

from . import money
from .models import (
    NET_AMOUNT,
    REVENUE_AMOUNT,
    Affiliate,
    AffiliateCommissionMonth,
    Commission,
    CommissionDailyStat,
    CommissionDirtyDay,
    DailyStat,
    Payout,
    Referral,
    RollupState,
)
from .queries import payable_commissions
from .services.rollups import month_start, next_month

PERIODS = {
    "7d": ("Last 7 days", 7),
    "30d": ("Last 30 days", 30),
    "90d": ("Last 90 days", 90),
    "12m": ("Last 12 months", 365),
    "all": ("All time", None),
}
DEFAULT_PERIOD = "30d"
EPOCH = date(2000, 1, 1)


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    start: date  # inclusive, UTC day
    end: date  # inclusive, UTC day

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        return day_start(self.start)

    @cached_property
    def closed_through(self) -> date | None:
        """Read once per request: every count of the page splits at the same watermark."""
        return closed_through()

    @property
    def end_at(self) -> datetime:
        """Exclusive upper bound."""
        return day_start(self.end + timedelta(days=1))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def parse_period(params, *, first_day: date | None = None) -> Period:
    """The period a request asks for: ?period=7d|30d|90d|12m|all, or ?from=YYYY-MM-DD&to=YYYY-MM-DD."""
    end = today()
    start_text, end_text = params.get("from", ""), params.get("to", "")
    if start_text or end_text:
        try:
            start = date.fromisoformat(start_text) if start_text else end - timedelta(days=29)
            stop = date.fromisoformat(end_text) if end_text else end
        except ValueError:
            start, stop = None, None
        if start and stop and start <= stop and (stop - start).days <= 3660:
            return Period("custom", f"{start:%b %-d, %Y} – {stop:%b %-d, %Y}", start, stop)
    key = params.get("period", DEFAULT_PERIOD)
    if key not in PERIODS:
        key = DEFAULT_PERIOD
    label, days = PERIODS[key]
    if days is None:
        start = min(first_day or end, end)
        start = max(start, end - timedelta(days=3660))
    else:
        start = end - timedelta(days=days - 1)
    return Period(key, label, start, end)


def closed_through() -> date | None:
    """The rollup's watermark: DailyStat rows are complete up to this day, inclusive."""
    return RollupState.objects.filter(pk=1).values_list("closed_through", flat=True).first()


# --- counts: clicks, referrals, customers --------------------------------------------------------------------------


def _split(period: Period) -> tuple[tuple[date, date] | None, tuple[date, date] | None]:
    """(days served by the rollup, days read raw); either may be None."""
    closed = period.closed_through
    if closed is None or closed < period.start:
        return None, (period.start, period.end)
    if closed >= period.end:
        return (period.start, period.end), None
    return (period.start, closed), (closed + timedelta(days=1), period.end)


def _raw_counts(merchant: Merchant, start: date, end: date, affiliate: Affiliate | None, by: str | None, ids):
    """Raw clicks/referrals/customers between two days, grouped by `by` ("day", "affiliate" or None)."""
    from tracking.models import Click

    lo, hi = day_start(start), day_start(end + timedelta(days=1))
    scope: dict = {"merchant": merchant}
    if affiliate is not None:
        scope["affiliate"] = affiliate
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


def _rollup_counts(merchant: Merchant, start: date, end: date, affiliate: Affiliate | None, by: str | None, ids):
    qs = DailyStat.objects.for_merchant(merchant).filter(day__gte=start, day__lte=end)
    if affiliate is not None:
        qs = qs.filter(affiliate=affiliate)
    elif ids is not None:
        qs = qs.filter(affiliate_id__in=ids)
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
    merchant: Merchant, period: Period, *, affiliate: Affiliate | None = None, by: str | None = None, affiliate_ids=None
) -> dict:
    """Clicks, referrals and customers in the period: {key: {...}} with key None, a day, or an affiliate id.

    `by="affiliate"` needs `affiliate_ids` (a page of affiliates), so the work is bounded by the page, not the tenant.
    """
    if by == "affiliate" and affiliate_ids is None:
        raise ValueError("counts by affiliate need the affiliate ids")
    ids = list(affiliate_ids) if affiliate_ids is not None else None
    rolled, raw = _split(period)
    total: dict = defaultdict(lambda: {"clicks": 0, "referrals": 0, "customers": 0})
    for part, reader in ((rolled, _rollup_counts), (raw, _raw_counts)):
        if part is None:
            continue
        for key, values in reader(merchant, part[0], part[1], affiliate, by, ids).items():
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


def _commission_rows(merchant: Merchant, period: Period, affiliate: Affiliate | None, *, by_day: bool):
    qs = Commission.objects.for_merchant(merchant).filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
    if affiliate is not None:
        qs = qs.filter(affiliate=affiliate)
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


def _commission_day_rows(merchant: Merchant, period: Period, affiliate: Affiliate | None) -> list[dict]:
    """The period's commissions by status, currency and day, as `_commission_rows(by_day=True)` gives them.

    For a merchant's own totals on Postgres, closed days come from
    CommissionDailyStat except the days the trigger marked dirty, which are
    read raw with the days after the watermark: exact, and one row per day,
    status and currency whatever the number of commissions.
    """
    closed = period.closed_through
    if affiliate is not None or connection.vendor != "postgresql" or closed is None or closed < period.start:
        return list(_commission_rows(merchant, period, affiliate, by_day=True))
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


def overview_and_series(merchant: Merchant, period: Period, *, affiliate: Affiliate | None = None) -> tuple[dict, dict]:
    """The period's totals and its per-day chart data, from one pass over each source.

    Counts: the rollup plus the open days (see `counts`). Money: one aggregate of the period's commissions by status,
    currency and day, which gives both the totals and the chart's commission series (main currency).
    """
    by_day = counts(merchant, period, affiliate=affiliate, by="day")
    rows = _commission_day_rows(merchant, period, affiliate)
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


def top_affiliates(merchant: Merchant, period: Period, *, limit: int = 5) -> list[dict]:
    """The affiliates who earned most in the period (largest amount in one currency first), with their counts.

    Voided commissions do not count. Whole closed months come from AffiliateCommissionMonth, the rest raw (see
    `_month_split`); both are summed per affiliate and currency in one query, so the ranking is exact.
    """
    months, raw_ranges = _month_split(merchant, period)

    def raw(first: date, last: date):
        return (
            Commission.objects.for_merchant(merchant)
            .filter(created_at__gte=day_start(first), created_at__lt=day_start(last + timedelta(days=1)))
            .exclude(status=Commission.Status.VOIDED)
            .values("affiliate_id", "currency")
            .annotate(
                revenue=Sum(REVENUE_AMOUNT),
                earned=Sum(NET_AMOUNT),
                n=Count("*"),
            )
            .order_by()
        )

    # One query per raw range: each is an index-only scan of commission_overview_idx.
    parts = [raw(first, last) for first, last in raw_ranges]
    if months:
        parts.append(
            AffiliateCommissionMonth.objects.for_merchant(merchant)
            .filter(month__in=months)
            .values("affiliate_id", "currency")
            .annotate(revenue=Sum("revenue"), earned=Sum("net"), n=Sum("payments"))
            .order_by()
        )
    if len(parts) == 1:
        rows = list(parts[0].order_by("-earned", "affiliate_id")[: limit * 3])
    else:
        compiled = [part.query.sql_with_params() for part in parts]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT affiliate_id, currency, SUM(revenue)::bigint, SUM(earned)::bigint, SUM(n)::bigint FROM ("
                + " UNION ALL ".join(f"({sql})" for sql, _ in compiled)
                + ") AS parts GROUP BY affiliate_id, currency ORDER BY 4 DESC, 1 LIMIT %s",
                (*(p for _, params in compiled for p in params), limit * 3),
            )
            names = ("affiliate_id", "currency", "revenue", "earned", "n")
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
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


def first_day(merchant: Merchant) -> date:
    """The merchant's first day, for the "All time" period (no scan: the merchant's creation date)."""
    return merchant.created_at.astimezone(UTC).date()


def payout_totals(merchant: Merchant, *, affiliate: Affiliate | None = None, currency: str = "") -> dict:
    qs = Payout.objects.for_merchant(merchant)
    if affiliate is not None:
        qs = qs.filter(affiliate=affiliate)
        currency = currency or affiliate.program.commission_currency
    result = {"pending": Money(currency=currency), "paid": Money(currency=currency)}
    for row in qs.values("status", "currency").annotate(s=Sum("amount")):
        result[row["status"]].add(row["currency"], row["s"] or 0)
    return result


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
    from stripe_integration.models import StripeEvent
    from tracking.models import SeenDomain

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


def status_counts(merchant: Merchant) -> dict:
    rows = Affiliate.objects.for_merchant(merchant).values("status").annotate(n=Count("pk"))
    result = dict.fromkeys(Affiliate.Status.values, 0)
    result.update({r["status"]: r["n"] for r in rows})
    result["all"] = sum(result.values())
    return result


def commission_filter(
    merchant: Merchant, *, status: str = "", affiliate: Affiliate | None = None, period: Period | None = None
):
    qs = Commission.objects.for_merchant(merchant)
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
    qs = qs.select_related("affiliate")
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


def search_affiliates(merchant: Merchant, *, q: str = "", status: str = ""):
    qs = Affiliate.objects.for_merchant(merchant)
    if q:
        qs = qs.filter(Q(email__icontains=q) | Q(name__icontains=q) | Q(code__icontains=q))
    if status in Affiliate.Status.values:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")
