"""`manage.py seed_bench` builds the dashboard benchmark's data set: it must keep up with the models it writes."""

import pytest
from django.core.management import call_command

from affiliates.models import Commission, Payout
from tenants.models import Merchant

pytestmark = pytest.mark.django_db(transaction=True)  # it ends with VACUUM ANALYZE


def test_seed_bench_writes_a_consistent_data_set():
    call_command("seed_bench", clicks=500, referrals=200, commissions=300, affiliates=10, days=60)

    merchant = Merchant.objects.get(slug="bench-shop")
    assert Commission.objects.filter(merchant=merchant).count() == 300
    # Paid commissions sit in paid payouts whose totals are their sums, as a real payout leaves them.
    for payout in Payout.objects.filter(merchant=merchant):
        commissions = list(payout.commissions.all())
        assert commissions and payout.amount == sum(c.amount for c in commissions)
        assert all(c.status == "paid" and c.paid_amount == c.net_amount for c in commissions)
