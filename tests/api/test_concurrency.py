"""Concurrent retries on the real stack: a sale and an Idempotency-Key each take effect once, whatever the timing."""

import threading

import pytest
from django.db import connection, connections

from affiliates.models import Affiliate, Commission, Referral
from tests.conftest import on_real_stack

from .conftest import Api


def run_together(calls) -> list:
    """Runs the calls in threads released at the same moment; returns their responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def real_db(transactional_db):
    if not on_real_stack()[0] or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so nothing would run concurrently")


def test_the_same_sale_posted_at_once_earns_one_commission(real_db, raw_key, merchant, affiliate):
    body = {"id": "order-race", "referral": affiliate.code, "amount": 5000, "currency": "usd"}
    responses = run_together([lambda: Api(raw_key).post("/api/v1/conversions", body) for _ in range(4)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]  # one records it, the others repeat it
    assert Commission.objects.filter(merchant=merchant, source_id="conv_order-race").count() == 1
    # The losers' fresh referrals (the sale named an affiliate code) were rolled back.
    assert Referral.objects.filter(merchant=merchant).count() == 1
    assert len({r.json()["commission"]["id"] for r in responses}) == 1


def test_the_same_idempotency_key_at_once_creates_one_affiliate(real_db, raw_key, merchant):
    body, headers = {"email": "race@example.com"}, {"Idempotency-Key": "race-1"}
    responses = run_together([lambda: Api(raw_key).post("/api/v1/affiliates", body, headers=headers) for _ in range(4)])
    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.json()["id"] for r in responses}) == 1
    assert Affiliate.objects.filter(merchant=merchant).count() == 1
