"""The period a dashboard or portal page reports on (?period=30d, ?from=&to=), in whole UTC days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from django.utils import timezone

from affiliates.models import RollupState
from tenants.models import Merchant

PERIODS = {
    "7d": ("Last 7 days", 7),
    "30d": ("Last 30 days", 30),
    "90d": ("Last 90 days", 90),
    "12m": ("Last 12 months", 365),
    "all": ("All time", None),
}
DEFAULT_PERIOD = "30d"


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


def first_day(merchant: Merchant) -> date:
    """The merchant's first day, for the "All time" period (no scan: the merchant's creation date)."""
    return merchant.created_at.astimezone(UTC).date()
