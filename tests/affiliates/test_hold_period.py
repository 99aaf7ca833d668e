from datetime import timedelta

import pytest
from celery.result import EagerResult
from django.utils import timezone

from affiliates.models import Commission
from affiliates.tasks import approve_due_commissions_task
from tests.conftest import wait_for
from tests.factories import CommissionFactory


def test_commission_past_hold_becomes_approved_and_others_stay(affiliate):
    due = CommissionFactory(referral__affiliate=affiliate, hold_until=timezone.now() - timedelta(minutes=1))
    not_due = CommissionFactory(referral__affiliate=affiliate, hold_until=timezone.now() + timedelta(days=3))
    disputed = CommissionFactory(
        referral__affiliate=affiliate, hold_until=timezone.now() - timedelta(days=1), is_on_hold=True
    )

    approve_due_commissions_task.delay()

    for c in (due, not_due, disputed):
        c.refresh_from_db()
    assert due.status == Commission.Status.APPROVED and due.approved_at is not None
    assert not_due.status == Commission.Status.PENDING
    assert disputed.status == Commission.Status.PENDING


@pytest.mark.worker
def test_real_worker_on_redis_and_postgres_approves_due_commissions(celery_worker, affiliate):
    due = CommissionFactory(referral__affiliate=affiliate, hold_until=timezone.now() - timedelta(minutes=1))

    result = approve_due_commissions_task.delay()

    assert not isinstance(result, EagerResult)  # sent through Redis: only the worker process can do the work
    wait_for(lambda: Commission.objects.get(pk=due.pk).status == Commission.Status.APPROVED)
    assert celery_worker.poll() is None
