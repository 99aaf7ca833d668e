"""A worker killed mid-backlog (kill -9, as a crash or the OOM killer does): once a worker is running again, its
drainer's backlog is processed within seconds, not after a minute, and no event is processed twice.

Real Celery workers on the Redis broker, events signed and posted through the webhook. One drainer slot, so the
restarted worker has to wait for the dead drainer's slot to expire (stripe_integration/slots.py) rather than take
another.
"""

import time

import pytest
import redis
from django.core.cache import cache

from affiliates.models import Commission
from stripe_integration.drainers import request_drain
from stripe_integration.models import StripeEvent
from stripe_integration.slots import SLOT_KEY, SLOT_TTL
from tests.conftest import requires_real_stack, start_celery_worker, stop_celery_worker, wait_for
from tests.factories import ReferralFactory
from tests.stripe_events import checkout_session, make_event, post_event

pytestmark = pytest.mark.worker

BACKLOG = 400


def count(merchant, status) -> int:
    return StripeEvent.objects.for_merchant(merchant).filter(status=status).count()


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_backlog_is_taken_over_within_seconds_of_a_restart_and_processed_once(
    client, merchant, affiliate, settings
):
    requires_real_stack()
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    settings.STRIPE_EVENT_DRAINERS = 1
    slot = SLOT_KEY.format(0)
    first = start_celery_worker(settings, STRIPE_EVENT_DRAINERS="1")
    try:
        wait_for(lambda: cache.get(slot) is None, timeout=10)  # its start-up ask found nothing to do
        cache.set(slot, 1, 60)  # held while the backlog is posted, so that it builds up
        sessions = []
        for _ in range(BACKLOG):
            session = checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid, amount_total=1000)
            event = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
            assert post_event(client, event).status_code == 200
            sessions.append(session)
        assert count(merchant, StripeEvent.Status.PENDING) == BACKLOG
        cache.delete(slot)
        assert request_drain() is True

        wait_for(lambda: count(merchant, StripeEvent.Status.PROCESSED) >= 20, timeout=30, interval=0.02)
    finally:
        stop_celery_worker(first, kill=True)
    killed_at = time.monotonic()
    left = count(merchant, StripeEvent.Status.PENDING)
    assert 0 < left < BACKLOG, "killed mid-backlog"
    assert cache.get(slot) is not None  # the dead drainer's slot, until it expires

    second = start_celery_worker(settings, STRIPE_EVENT_DRAINERS="1")
    ready = time.monotonic()
    try:
        wait_for(lambda: count(merchant, StripeEvent.Status.PENDING) < left, timeout=30, interval=0.02)
        resumed = time.monotonic()
        wait_for(lambda: count(merchant, StripeEvent.Status.PROCESSED) == BACKLOG, timeout=30)
        done = time.monotonic()
    finally:
        stop_celery_worker(second)

    timings = (
        f"restarted worker ready {ready - killed_at:.1f} s after the kill, resumed at {resumed - killed_at:.1f} s, "
        f"the {left} events left done at {done - killed_at:.1f} s"
    )
    # Not before the dead drainer's slot expires (at most SLOT_TTL after the kill), then at once.
    assert resumed - ready < SLOT_TTL + 2, timings
    assert done - killed_at < 12, timings
    events = StripeEvent.objects.for_merchant(merchant)
    assert set(events.values_list("attempts", flat=True)) == {1}  # none processed twice, none failed
    assert sorted(Commission.objects.for_merchant(merchant).values_list("source_id", flat=True)) == sorted(
        session["payment_intent"] for session in sessions
    )
