"""Shared by bench/dashboard_*.py: times dashboard pages server-side (Django's test client, in process).

Run against a Postgres database seeded with `manage.py seed_bench`:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/afficone_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/afficone_bench .venv/bin/python manage.py seed_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/afficone_bench .venv/bin/python bench/dashboard_overview.py

Prints the median and p95 of each page's render time and its query count, next to the same page for an
empty tenant measured in the same run (the baseline). It never asserts.
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afficone.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

import django

django.setup()

from django.core.signals import request_started
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext

# The test client's requests would clear the query log that CaptureQueriesContext reads.
request_started.disconnect(reset_queries)
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def clients():
    """(bench tenant client, empty tenant client)."""
    from affiliates.onboarding import create_merchant
    from tenants.models import Membership, Merchant

    bench = Merchant.objects.filter(slug="bench-shop").first()
    if bench is None:
        sys.exit("No bench tenant: run `manage.py seed_bench` first (with the same DATABASE_URL).")
    owner = Membership.objects.filter(merchant=bench).select_related("user").first().user
    empty = Merchant.objects.filter(slug="bench-empty").first()
    if empty is None:
        empty, _ = create_merchant(
            name="Bench Empty", owner_email="bench-empty@afficone.local", password="bench-password-123"
        )
        Merchant.objects.filter(pk=empty.pk).update(slug="bench-empty")
    empty_owner = Membership.objects.filter(merchant=empty).select_related("user").first().user
    a, b = Client(), Client()
    a.force_login(owner)
    b.force_login(empty_owner)
    return a, b


def measure(client, path: str) -> tuple[float, float, int]:
    """(median ms, p95 ms, queries) over RUNS requests after one warm-up."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    reset_queries()  # DEBUG's query log is a bounded deque: start from empty so the count is right
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], len(ctx)


def deep_cursor(offset: int) -> str:
    """The commissions list's cursor for the bench tenant's `offset`-th newest commission (a deep page)."""
    from affiliates.models import Commission
    from dashboard.selectors import _cursor

    qs = Commission.objects.filter(merchant__slug="bench-shop").order_by("-created_at", "-pk")
    return _cursor(qs[offset - 1])


def report(paths: list[str]) -> None:
    from affiliates.models import Commission, Referral
    from tenants.models import Merchant
    from tracking.models import Click

    bench_client, empty_client = clients()
    merchant = Merchant.objects.get(slug="bench-shop")
    print(
        f"database: {connection.vendor}; bench tenant: {Click.objects.filter(merchant=merchant).count():,} clicks, "
        f"{Referral.objects.filter(merchant=merchant).count():,} referrals, "
        f"{Commission.objects.filter(merchant=merchant).count():,} commissions; {RUNS} runs per page"
    )
    print(f"{'page':52} {'median ms':>10} {'p95 ms':>8} {'queries':>8} | {'empty ms':>9} {'queries':>8} {'ratio':>6}")
    for path in paths:
        med, p95, q = measure(bench_client, path)
        emed, _, eq = measure(empty_client, path.split("?after=")[0])  # the empty tenant has no such page
        print(f"{path:52} {med:10.1f} {p95:8.1f} {q:8d} | {emed:9.1f} {eq:8d} {med / emed:6.2f}")
