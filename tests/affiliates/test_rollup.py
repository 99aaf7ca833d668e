"""The DailyStat rollup: the overview's numbers are the same whether days come from the rollup or from raw rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from affiliates.models import DailyStat, Referral, RollupState
from dashboard import periods, reports
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory
from tracking.models import Click
from tracking.rollups import rollup_daily_stats
from tracking.tasks import rollup_daily_stats_task

pytestmark = pytest.mark.django_db


def _activity(merchant, affiliate, days_ago: int, clicks: int, referrals: int, customers: int):
    at = timezone.now() - timedelta(days=days_ago)
    refs = [ReferralFactory(affiliate=affiliate) for _ in range(referrals)]
    Referral.objects.filter(pk__in=[r.pk for r in refs]).update(created_at=at)
    Referral.objects.filter(pk__in=[r.pk for r in refs[:customers]]).update(converted_at=at, stripe_customer_id=None)
    Click.objects.bulk_create([Click(merchant=merchant, affiliate=affiliate, created_at=at) for _ in range(clicks)])


def test_totals_are_equal_before_and_after_the_rollup_and_with_late_rows(merchant, affiliate, other_merchant):
    bob = AffiliateFactory(merchant=merchant, code="bob")
    _activity(merchant, affiliate, 10, clicks=7, referrals=3, customers=1)
    _activity(merchant, bob, 3, clicks=4, referrals=2, customers=2)
    _activity(merchant, affiliate, 0, clicks=2, referrals=1, customers=0)
    _activity(other_merchant, AffiliateFactory(merchant=other_merchant), 3, clicks=50, referrals=5, customers=5)
    period = periods.parse_period({"period": "30d"})

    raw = reports.counts(merchant, period)[None]
    raw_by_day = reports.counts(merchant, period, by="day")
    assert dict(raw) == {"clicks": 13, "referrals": 6, "customers": 3}

    assert rollup_daily_stats() > 0
    assert RollupState.objects.get().closed_through == periods.today() - timedelta(days=1)
    assert DailyStat.objects.filter(merchant=merchant, affiliate__isnull=False).count() == 2  # today's rows stay raw
    assert DailyStat.objects.filter(merchant=merchant, affiliate=None).count() == 2  # one merchant row per closed day
    assert reports.counts(merchant, period)[None] == raw
    assert reports.counts(merchant, period, by="day") == raw_by_day
    assert reports.counts(merchant, period, by="affiliate", affiliate_ids=[bob.pk])[bob.pk] == {
        "clicks": 4,
        "referrals": 2,
        "customers": 2,
    }

    # A click buffered before midnight and written after the rollup: the next run rebuilds that day.
    _activity(merchant, bob, 1, clicks=1, referrals=0, customers=0)
    rollup_daily_stats_task.delay()
    rollup_daily_stats_task.delay()  # idempotent
    assert reports.counts(merchant, period)[None]["clicks"] == 14


def test_overview_query_count_does_not_grow_with_data(merchant_client, merchant, affiliate):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert merchant_client.get(reverse("affiliates:overview")).status_code == 200
        return len(ctx)

    _activity(merchant, affiliate, 2, clicks=2, referrals=1, customers=1)
    CommissionFactory(referral__affiliate=affiliate)
    rollup_daily_stats()
    few = queries()
    assert few > 5
    for n in range(6):
        other = AffiliateFactory(merchant=merchant)
        _activity(merchant, other, n, clicks=3, referrals=2, customers=1)
        CommissionFactory(referral__affiliate=other)
    rollup_daily_stats()
    assert queries() == few


def test_commission_list_query_count_does_not_grow_with_data(merchant_client, affiliate, merchant):
    CommissionFactory(referral__affiliate=affiliate)
    with CaptureQueriesContext(connection) as one:
        merchant_client.get(reverse("affiliates:commission_list"))
    for _ in range(20):
        CommissionFactory(referral__affiliate=AffiliateFactory(merchant=merchant))
    with CaptureQueriesContext(connection) as many:
        merchant_client.get(reverse("affiliates:commission_list"))
    assert len(many) == len(one) > 3


def _raw_money(merchant, period):
    return reports._totals_from(reports._commission_rows(merchant, period, None, by_day=True))


def _money(merchant, period):
    period = periods.parse_period({"period": period})  # a fresh Period reads the watermark again
    stats, series = reports.overview_and_series(merchant, period)
    raw = _raw_money(merchant, period)
    for name in ("revenue", "earned", "owed", "pending", "approved", "paid"):
        assert stats[name].amounts == raw[name].amounts, name
    return stats, series


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the commission rollup and its trigger are Postgres-only")
def test_commission_rollup_stays_exact_through_later_changes(merchant, affiliate, other_merchant):
    from affiliates.models import Commission, CommissionDailyStat, CommissionDirtyDay
    from affiliates.services import apply_refund, approve_commission, void_commission

    old = [
        CommissionFactory(referral__affiliate=affiliate, amount=1000 * (i + 1), base_amount=5000 * (i + 1))
        for i in range(3)
    ]
    for i, c in enumerate(old):
        Commission.objects.filter(pk=c.pk).update(created_at=timezone.now() - timedelta(days=5 + i))
    CommissionFactory(referral__affiliate=affiliate, amount=777)  # today: never marked, read raw
    CommissionFactory(referral__affiliate=AffiliateFactory(merchant=other_merchant), amount=5555)
    assert CommissionDirtyDay.objects.filter(merchant_pk=merchant.pk).count() == 3  # the created_at moves above

    rollup_daily_stats()
    assert not CommissionDirtyDay.objects.exists()
    assert CommissionDailyStat.objects.filter(merchant=merchant).count() == 3
    stats, _ = _money(merchant, "30d")
    assert str(stats["owed"]) == "$67.77"

    # Changes to closed days, through the services, after the rollup: read raw until the next run, exact throughout.
    approve_commission(old[0])
    void_commission(old[1], reason="Fraud")
    apply_refund(old[2], refunded_amount=7500)  # half of 15000: half of 3000 reversed
    assert CommissionDirtyDay.objects.filter(merchant_pk=merchant.pk).count() == 3
    stats, series = _money(merchant, "30d")
    assert (str(stats["approved"]), str(stats["pending"]), stats["voided_count"]) == ("$10.00", "$22.77", 1)
    assert sum(series["commissions"]) == pytest.approx((1000 + 1500 + 777) / 100)

    rollup_daily_stats()
    assert not CommissionDirtyDay.objects.exists()
    assert _money(merchant, "30d")[0]["owed"].amounts == stats["owed"].amounts

    affiliate.delete()  # a cascade through raw SQL paths too: the trigger sees every row
    assert _money(merchant, "30d")[0]["payments"] == 0
