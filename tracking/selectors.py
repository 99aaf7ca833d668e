"""Click figures for the dashboard; every function is scoped to one merchant.

Clicks buffered in Redis (tracking/buffer.py) are counted once written,
a few seconds after they happen.
"""

from datetime import date, datetime

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from tenants.models import Merchant

from .models import Click, SeenDomain


def _clicks(merchant: Merchant, *, since: datetime | None, until: datetime | None, affiliate=None) -> QuerySet:
    clicks = Click.objects.for_merchant(merchant)
    if since is not None:
        clicks = clicks.filter(created_at__gte=since)
    if until is not None:
        clicks = clicks.filter(created_at__lt=until)
    if affiliate is not None:
        clicks = clicks.filter(affiliate=affiliate)
    return clicks


def click_count(
    merchant: Merchant, *, since: datetime | None = None, until: datetime | None = None, affiliate=None
) -> int:
    """Clicks in [since, until), optionally of one affiliate."""
    return _clicks(merchant, since=since, until=until, affiliate=affiliate).count()


def unique_visitor_count(
    merchant: Merchant, *, since: datetime | None = None, until: datetime | None = None, affiliate=None
) -> int:
    """Distinct visitors per UTC day, summed: the IP hash's salt changes daily, so a visitor is unique within a day."""
    return (
        _clicks(merchant, since=since, until=until, affiliate=affiliate)
        .annotate(day=TruncDate("created_at"))
        .values("day", "ip_hash")
        .distinct()
        .count()
    )


def clicks_per_day(merchant: Merchant, *, since: datetime, until: datetime, affiliate=None) -> list[tuple[date, int]]:
    """(UTC day, clicks) for the days in [since, until) that had clicks, oldest first."""
    rows = (
        _clicks(merchant, since=since, until=until, affiliate=affiliate)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    return [(row["day"], row["n"]) for row in rows]


def clicks_per_affiliate(
    merchant: Merchant, *, since: datetime | None = None, until: datetime | None = None
) -> dict[int, int]:
    """{affiliate id: clicks} in [since, until)."""
    rows = _clicks(merchant, since=since, until=until).values("affiliate_id").annotate(n=Count("id")).order_by()
    return {row["affiliate_id"]: row["n"] for row in rows}


def seen_domains(merchant: Merchant) -> QuerySet:
    """The installation check: host names where the script has run, most recently seen first."""
    return SeenDomain.objects.for_merchant(merchant).order_by("-last_seen_at", "domain")
