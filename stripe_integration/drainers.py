"""Getting stored events processed: drainers rather than a task per event.

The webhook stores an event and asks for a drainer (`request_drain`). A drainer is one task (tasks.py runs `drain`)
that claims pending events one at a time (`services.process_next_event`: FOR UPDATE SKIP LOCKED, oldest first), each
in its own transaction, until none is left. So a burst of events costs one task, not one each: a Celery task's own
round trip (publish, deliver, ack) cost as much as attributing a checkout (bench/stripe_webhook.py), and an enqueue
about a millisecond of the webhook's time, where asking costs one Redis SET NX.

Up to STRIPE_EVENT_DRAINERS drainers run at once, one per slot; a slot is a Redis key, taken with SET NX and a TTL
that a live drainer keeps renewing, so a slot whose drainer was killed frees itself (keys are the Django cache's, set
through the process's shared Redis client; without Redis, the Django cache itself). Asking when every slot is taken
enqueues nothing: a running drainer reaches the new event. A drainer gives its slot back and then looks once more for
pending events before it exits, so an event committed while it was leaving is never stranded; events its handlers wake
(or send back to pending to run again) are pending like any other, so it takes them too. The periodic sweep
(`requeue_stale_events`) asks again for anything pending longer than a minute, by when a killed drainer's slot
has expired, which also covers Redis or the broker being down when the webhook asked.

The limit is soft: a slot that expired under a live drainer (one event slower than SLOT_TTL, or a handed-over task that
waited in the queue that long) can be taken again, so for a while one more drainer runs. That costs a worker process,
never correctness: claims skip the events other drainers hold.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from afficone import redis_client
from afficone.celery import send_task
from affiliates.services import batched_commission_notices

from .models import StripeEvent
from .services import asynchronous_commits, process_event, process_next_event, sweep_stale_events

log = logging.getLogger(__name__)

# The tasks (tasks.py, which imports this module) that this module enqueues, by the names queued messages carry.
DRAIN_TASK = "stripe_integration.tasks.drain_stripe_events_task"
PROCESS_TASK = "stripe_integration.tasks.process_stripe_event_task"

SLOT_KEY = "afficone:stripe:drainer:{}"
# A killed drainer's slot frees itself after this; a live one renews its slot after every chunk (CHUNK_SECONDS at
# most, plus the event in hand) and before it hands over.
SLOT_TTL = 60
# A drainer hands over to a fresh task (same slot) after this many events or seconds, so a long backlog never holds a
# worker process past Celery's time limits and other tasks (emails, rollups) get their turn in between.
BUDGET_EVENTS = 1000
BUDGET_SECONDS = 10.0
# A chunk: up to this many events or seconds; its new-commission emails go as one task, then the slot is renewed.
CHUNK = 50
CHUNK_SECONDS = 5.0


def request_drain() -> bool:
    """Starts a drainer in the first free slot; False when every slot is taken (a running drainer will get there).

    Call it after the events to process are committed (`request_drain_on_commit` inside a transaction).
    """
    try:
        slot = _take_free_slot()
    except redis.RedisError:
        log.warning(
            "Redis unreachable: no Stripe event drainer asked for; the periodic sweep starts one", exc_info=True
        )
        return False
    if slot is None:
        return False
    if _start(slot):
        return True
    _free(slot)  # the broker is down: the periodic sweep starts one later
    return False


# The first free slot, taken, in one round trip (a busy webhook finds them all taken: one call, not one per slot).
TAKE_FREE_SLOT = """
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, 1, 'NX', 'EX', ARGV[1]) then return i - 1 end
end
return -1
"""
_take_free_slot_script = None


def _take_free_slot() -> int | None:
    global _take_free_slot_script
    slots = range(max(1, settings.STRIPE_EVENT_DRAINERS))
    if not settings.REDIS_URL:
        return next((slot for slot in slots if _take(slot)), None)
    client = redis_client.shared()
    if _take_free_slot_script is None or _take_free_slot_script.registered_client is not client:
        _take_free_slot_script = client.register_script(TAKE_FREE_SLOT)
    slot = _take_free_slot_script(keys=[cache.make_key(SLOT_KEY.format(slot)) for slot in slots], args=[SLOT_TTL])
    return None if slot < 0 else int(slot)


def _take(slot: int) -> bool:
    try:
        if settings.REDIS_URL:
            return bool(redis_client.shared().set(cache.make_key(SLOT_KEY.format(slot)), 1, nx=True, ex=SLOT_TTL))
        return cache.add(SLOT_KEY.format(slot), 1, SLOT_TTL)
    except redis.RedisError:  # taken, as far as anyone can tell: the sweep carries on
        log.warning("Redis unreachable: drainer slot %s not taken", slot, exc_info=True)
        return False


def _renew(slot: int) -> None:
    try:
        if settings.REDIS_URL:
            redis_client.shared().expire(cache.make_key(SLOT_KEY.format(slot)), SLOT_TTL)
        else:
            cache.touch(SLOT_KEY.format(slot), SLOT_TTL)
    except redis.RedisError:
        log.warning("Redis unreachable: drainer slot %s not renewed", slot, exc_info=True)


def _free(slot: int) -> None:
    try:
        if settings.REDIS_URL:
            redis_client.shared().delete(cache.make_key(SLOT_KEY.format(slot)))
        else:
            cache.delete(SLOT_KEY.format(slot))
    except redis.RedisError:  # the slot frees itself after SLOT_TTL
        log.warning("Redis unreachable: drainer slot %s left to expire", slot, exc_info=True)


def request_drain_on_commit() -> None:
    """Asks for a drainer once the current transaction commits (at once outside one). Never fails the caller (the
    webhook has stored its event by then): what cannot be asked is left to the periodic sweep."""
    transaction.on_commit(request_drain, robust=True)


def _start(slot: int | None) -> bool:
    try:
        send_task(DRAIN_TASK, slot)
    except Exception:
        log.exception("could not enqueue a Stripe event drainer")
        return False
    return True


def drain(slot: int | None = None) -> int:
    """Processes pending events until none is left (or the budget is spent, then hands over); returns how many.

    `slot` is the slot this drainer holds (None: one started by hand, holding none). If the database goes away, the
    slot is given back and the error raised: the events stay pending for the next ask or the sweep.
    """
    held: int | None = slot  # the slot this drainer holds right now, if any
    done = 0
    started = time.monotonic()
    position = 0  # the last event's id
    try:
        while True:
            while True:
                count, position = _drain_chunk(CHUNK, CHUNK_SECONDS, position)
                if not count:
                    break
                done += count
                if held is not None:
                    _renew(held)
                if done >= BUDGET_EVENTS or time.monotonic() - started > BUDGET_SECONDS:
                    # Hand over to a fresh task (with this slot, just renewed, if any); if that cannot be enqueued,
                    # the slot is freed below and the next ask or the sweep carries on.
                    if _start(slot):
                        held = None
                    return done
            if held is None:
                return done
            freed, held = held, None
            _free(freed)
            # The slot is given back; look once more. An event committed after the last claim found nothing, whose
            # ask saw this slot still taken, is seen here; if its ask came later, it found a free slot itself. Events
            # another drainer is processing do not count (it has them), or this one would spin while it works.
            if not _claimable_exists() or not _take(freed):
                return done
            held = freed
    finally:
        if held is not None:
            _free(held)


def _drain_chunk(limit: int, seconds: float, position: int) -> tuple[int, int]:
    """Up to `limit` events or `seconds` (then the event in hand is finished), their new-commission emails sent as
    one task at the end; (how many were processed, the last one's id).

    `position` is the id of the drainer's last event: it goes on from there, and back to the oldest once nothing is
    pending after it (an event woken from waiting, or one another drainer skipped, has an older id).
    """
    count = 0
    until = time.monotonic() + seconds
    with batched_commission_notices(), asynchronous_commits():
        while count < limit and time.monotonic() < until:
            claimed = process_next_event(after=position)
            if claimed is None and position:
                claimed = process_next_event()
            if claimed is None:
                break
            position = claimed[0]
            count += 1
    return count, position


def _claimable_exists() -> bool:
    """Whether a pending event exists that no other drainer holds (FOR UPDATE SKIP LOCKED, as the claim itself)."""
    with transaction.atomic():
        return (
            StripeEvent.objects.select_for_update(skip_locked=True)
            .filter(status=StripeEvent.Status.PENDING, merchant__isnull=False)
            .exists()
        )


def retry_event(event_id: int) -> str | None:
    """Processes one event by id (the sweep's retry of a failed event; services.process_event), then asks for a drainer
    if that left events pending: the events it woke, or sent back to run again. Returns the event's new status."""
    status = process_event(event_id)
    if status is not None and _claimable_exists():
        request_drain_on_commit()
    return status


def requeue_stale_events(*, now: datetime | None = None, limit: int = 500) -> int:
    """Gets events processed that were stored but never reached, so none is lost to a broker outage, a killed
    worker or a drainer slot that is still held; returns how many events were concerned.

    For pending events no drainer reached within a minute (services.sweep_stale_events) a drainer is asked for, as the
    webhook asks (a slot a killed worker held has expired by then; slots held by live drainers mean they are on it,
    and no more drainers than STRIPE_EVENT_DRAINERS run however long a backlog lasts). Failed events whose back-off
    has passed get a task each. Doing either twice is harmless: processing is idempotent.
    """
    stale_ids, failed_ids = sweep_stale_events(now=now or timezone.now(), limit=limit)
    if stale_ids:
        request_drain_on_commit()
    for pk in failed_ids:
        transaction.on_commit(partial(send_task, PROCESS_TASK, pk))
    return len(stale_ids) + len(failed_ids)
