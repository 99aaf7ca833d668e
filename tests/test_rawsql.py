"""The hand-written statements give what the ORM gives: afficone/rawsql.py's `get_with_related` is select_related's
row, dashboard/sql.py's `top_affiliate_sums` is the sum of the ORM's grouped querysets (on Postgres and on SQLite)."""

import itertools
from datetime import date, timedelta

import pytest
from django.db.models import Count, F, Sum
from django.utils import timezone

from afficone import rawsql
from affiliates.models import AffiliateCommissionMonth, Commission, Payout, Referral
from affiliates.services import create_payout_batch
from dashboard.sql import top_affiliate_sums
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_get_with_related_is_select_related_in_one_query(merchant, affiliate, django_assert_num_queries):
    referral = ReferralFactory(affiliate=affiliate, stripe_customer_id="cus_raw")
    commission = CommissionFactory(referral=referral, status="approved", amount=90000)
    create_payout_batch(merchant)
    payout = Payout.objects.get(affiliate=affiliate)
    cases = [
        (Referral, "affiliate__program", {"merchant_id": merchant.pk, "rid": referral.rid}),
        (Referral, "affiliate__program", {"merchant_id": merchant.pk, "stripe_customer_id": "cus_raw"}),
        (Commission, "affiliate__program", {"public_id": commission.public_id}),  # a UUID key
        (Payout, "affiliate__merchant", {"merchant_id": merchant.pk, "public_id": payout.public_id}),
        (Referral, "", {"rid": referral.rid}),
    ]
    for model, path, where in cases:
        orm = model.objects.select_related(path or None).get(**where) if path else model.objects.get(**where)
        with django_assert_num_queries(1):
            found = rawsql.get_with_related(model, path, **where)
            chain = [found]
            for name in path.split("__") if path else []:
                chain.append(getattr(chain[-1], name))  # cached: no further query
        expected = [orm]
        for name in path.split("__") if path else []:
            expected.append(getattr(expected[-1], name))
        assert [type(i) for i in chain] == [type(i) for i in expected]
        assert [values(i) for i in chain] == [values(i) for i in expected], (model, path)
    assert rawsql.get_with_related(Referral, "affiliate", merchant_id=merchant.pk + 1000, rid=referral.rid) is None


def test_get_with_related_refuses_a_nullable_foreign_key():
    with pytest.raises(ValueError, match="not a non-null foreign key"):
        rawsql.get_with_related(Commission, "referral", code="x")


def _commission_part(merchant, first, last):
    return (
        Commission.objects.for_merchant(merchant)
        .filter(created_at__gte=first, created_at__lt=last)
        .exclude(status=Commission.Status.VOIDED)
        .values("affiliate_id", "currency")
        .annotate(
            revenue=Sum(F("base_amount") - F("refunded_amount")),
            earned=Sum(F("amount") - F("reversed_amount")),
            n=Count("*"),
        )
        .order_by()
    )


def _orm_version(parts, limit: int) -> list[dict]:
    """What the ORM can do: each part in its own query, summed and ranked in Python."""
    sums: dict = {}
    for row in itertools.chain.from_iterable(parts):
        entry = sums.setdefault((row["affiliate_id"], row["currency"]), {"revenue": 0, "earned": 0, "n": 0})
        for name in entry:
            entry[name] += row[name]
    ranked = sorted(sums.items(), key=lambda kv: (-kv[1]["earned"], kv[0][0]))
    return [{"affiliate_id": a, "currency": c, **s} for (a, c), s in ranked[:limit]]


def test_top_affiliate_sums_equal_the_orm_parts_summed_in_python(merchant, other_merchant):
    now = timezone.now()
    program = merchant.programs.get(is_default=True)
    ann, bob, cid, dee = (AffiliateFactory(merchant=merchant, program=program, code=c) for c in "abcd")
    theirs = AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get(is_default=True))
    for affiliate, days_ago, amount, currency in [
        (ann, 2, 3000, "usd"),
        (ann, 40, 1000, "usd"),
        (bob, 3, 2500, "usd"),
        (bob, 41, 1500, "usd"),
        (cid, 42, 4000, "usd"),  # ties with ann's and bob's 4000: the lower id first
        (dee, 1, 700, "eur"),
        (dee, 43, 100, "usd"),
        (theirs, 2, 99999, "usd"),  # another merchant's: in no part
    ]:
        made = CommissionFactory(referral__affiliate=affiliate, amount=amount, currency=currency)
        Commission.objects.filter(pk=made.pk).update(created_at=now - timedelta(days=days_ago))
    CommissionFactory(referral__affiliate=cid, amount=5000, status="voided")  # excluded by every part
    AffiliateCommissionMonth.objects.create(
        merchant=merchant, affiliate=dee, month=date(2020, 1, 1), currency="usd", payments=3, net=3900, revenue=20000
    )
    ranges = [(now - timedelta(days=10), now + timedelta(days=1)), (now - timedelta(days=50), now - timedelta(days=30))]
    months = [date(2020, 1, 1)]
    parts = [
        *(_commission_part(merchant, first, last) for first, last in ranges),
        AffiliateCommissionMonth.objects.for_merchant(merchant)
        .filter(month__in=months)
        .values("affiliate_id", "currency")
        .annotate(revenue=Sum("revenue"), earned=Sum("net"), n=Sum("payments"))
        .order_by(),
    ]
    for limit in (2, 3, 10):
        found = top_affiliate_sums(merchant.pk, raw_ranges=ranges, months=months, limit=limit)
        assert found == _orm_version(parts, limit), limit
    assert top_affiliate_sums(merchant.pk, raw_ranges=ranges[:1], months=[], limit=10) == _orm_version(parts[:1], 10)
    assert top_affiliate_sums(merchant.pk, raw_ranges=[], months=months, limit=10) == _orm_version(parts[2:], 10)
    assert [(r["affiliate_id"], r["earned"]) for r in found][:4] == [
        (ann.pk, 4000),
        (bob.pk, 4000),
        (cid.pk, 4000),
        (dee.pk, 4000),
    ]
