"""What keeps the overview and the commissions list fast on a large tenant stays exact: the top affiliates read from
the monthly per-affiliate rollup equal the raw rows, before and after late changes; the commissions list's cursor
pages show every commission exactly once, in order, both ways."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, F, Sum
from django.urls import reverse
from django.utils import timezone

from affiliates.models import AffiliateCommissionMonth, Commission, CommissionDirtyDay
from affiliates.services import apply_refund, void_commission
from dashboard import pages as dashboard_pages
from dashboard import periods, reports
from tests.factories import AffiliateFactory, CommissionFactory
from tracking.rollups import rollup_daily_stats

pytestmark = pytest.mark.django_db


def _oracle(merchant, period):
    """Each affiliate's non-voided commissions in the period, straight from the rows, largest earner first."""
    rows = (
        Commission.objects.filter(merchant=merchant, created_at__gte=period.start_at, created_at__lt=period.end_at)
        .exclude(status=Commission.Status.VOIDED)
        .values("affiliate__code")
        .annotate(
            earned=Sum(F("amount") - F("reversed_amount")),
            revenue=Sum(F("base_amount") - F("refunded_amount")),
            n=Count("*"),
        )
        .order_by("-earned", "affiliate_id")
    )
    return [(r["affiliate__code"], {"usd": r["earned"]}, {"usd": r["revenue"]}, r["n"]) for r in rows if r["earned"]]


def _top(merchant):
    period = periods.parse_period({"period": "12m"})  # a fresh Period reads the watermark again
    return period, [
        (t["affiliate"].code, t["earned"].amounts, t["revenue"].amounts, t["payments"])
        for t in reports.top_affiliates(merchant, period, limit=10)
    ]


POSTGRES_ONLY = pytest.mark.skipif(connection.vendor != "postgresql", reason="the rollups' trigger is Postgres only")


@POSTGRES_ONLY
def test_top_affiliates_from_the_monthly_rollup_equal_the_raw_rows_through_late_changes(merchant, other_merchant):
    ann, bob, cid = (AffiliateFactory(merchant=merchant, code=code) for code in ("ann", "bob", "cid"))
    made = []
    for affiliate, days_ago, amount in [
        (ann, 45, 3000),
        (ann, 80, 1000),
        (bob, 50, 2500),
        (bob, 120, 2000),
        (cid, 300, 500),
        (cid, 0, 900),
        (bob, 0, 100),
    ]:
        c = CommissionFactory(referral__affiliate=affiliate, amount=amount, base_amount=amount * 5)
        Commission.objects.filter(pk=c.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
        made.append(c)
    CommissionFactory(referral__affiliate=AffiliateFactory(merchant=other_merchant), amount=99999)

    period, before = _top(merchant)  # no rollup yet: everything raw
    assert before == _oracle(merchant, period)
    assert [row[0] for row in before] == ["bob", "ann", "cid"]  # 4600, 4000, 1400

    rollup_daily_stats()
    assert not CommissionDirtyDay.objects.exists()
    assert AffiliateCommissionMonth.objects.filter(merchant=merchant).count() >= 4
    period, after = _top(merchant)
    assert reports._month_split(merchant, period)[0], "whole closed months come from the rollup"
    assert after == before
    assert all(type(amount) is int for row in after for amount in (*row[1].values(), *row[2].values(), row[3]))

    # Late changes to rolled-up months, through the services: read raw until the next run, exact throughout.
    void_commission(Commission.objects.get(pk=made[2].pk), reason="Fraud")  # bob's 2500, 50 days ago
    apply_refund(Commission.objects.get(pk=made[1].pk), refunded_amount=2500)  # half of ann's 1000 reversed
    assert CommissionDirtyDay.objects.filter(merchant_pk=merchant.pk).count() == 2
    period, changed = _top(merchant)
    assert changed == _oracle(merchant, period)
    assert [row[:2] for row in changed] == [("ann", {"usd": 3500}), ("bob", {"usd": 2100}), ("cid", {"usd": 1400})]

    rollup_daily_stats()
    assert not CommissionDirtyDay.objects.exists()
    assert _top(merchant)[1] == changed


def test_commission_list_pages_by_cursor_show_each_commission_once_in_order(merchant_client, merchant, affiliate):
    made = [CommissionFactory(referral__affiliate=affiliate) for _ in range(2 * dashboard_pages.PAGE_SIZE + 7)]
    same_moment = timezone.now() - timedelta(days=1)
    Commission.objects.filter(pk__in=[c.pk for c in made[:60]]).update(created_at=same_moment)  # ties: id decides
    newest_first = Commission.objects.filter(merchant=merchant).order_by("-created_at", "-pk")
    expected = list(newest_first.values_list("source_id", flat=True))
    url = reverse("affiliates:commission_list")

    seen, pages, response = [], [], merchant_client.get(url)
    while True:
        assert response.status_code == 200
        pages.append([c.source_id for c in response.context["page"].object_list])
        seen += pages[-1]
        if not response.context["older_url"]:
            break
        response = merchant_client.get(url + response.context["older_url"])
    assert seen == expected
    assert [len(p) for p in pages] == [50, 50, 7]
    assert "107 in all" in response.content.decode()

    back = merchant_client.get(url + response.context["newer_url"])
    assert [c.source_id for c in back.context["page"].object_list] == pages[1]
    first = merchant_client.get(url + back.context["newer_url"])
    assert [c.source_id for c in first.context["page"].object_list] == pages[0]
    assert first.context["newer_url"] == ""

    bad = merchant_client.get(url + "?after=yesterday")
    assert bad.status_code == 400
    assert "not valid" in bad.content.decode()
