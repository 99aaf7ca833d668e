"""Getting stored events processed: drainers rather than a task per event.

The webhook stores an event and asks for a drainer (`request_drain`). A drainer is one task (tasks.py runs `drain`)
that claims pending events one at a time (`services.process_next_event`: FOR UPDATE SKIP LOCKED, oldest first), each
in its own transaction, until none is left. So a burst of events costs one task, not one each: a Celery task's own
round trip (publish, deliver, ack) cost as much as attributing a checkout (bench/stripe_webhook.py), and an enqueue
about a millisecond of the webhook's time, where asking costs one Redis SET NX.

Up to STRIPE_EVENT_DRAINERS drainers run at once, one per slot (slots.py: a Redis key naming its drainer, with a TTL
of a few seconds that the drainer's heartbeat renews). Asking when every slot is taken enqueues nothing: a running
drainer reaches the new event. A drainer gives its slot back and then looks once more for pending events before it
exits, so an event committed while it was leaving is never stranded; events its handlers wake (or send back to
pending to run again) are pending like any other, so it takes them too.

A drainer killed with its worker leaves its slot to expire within SLOT_TTL and its events pending (the one in hand
rolled back). A worker that starts asks for a drainer, and again once a held slot has expired (`take_over`), so a
restarted worker takes the backlog over within seconds. The periodic sweep (`requeue_stale_events`) asks again for
anything pending longer than a minute, which also covers Redis or the broker being down when the webhook asked.

The limit is soft: a slot that expired under a live drainer (Redis unreachable longer than SLOT_TTL, or a handed-over
task that waited in the queue that long) can be taken by another, so for a while one more drainer runs. That costs a
worker process, never correctness: claims skip the events other drainers hold, and the first drainer, finding its slot
gone, leaves.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial

import redis
from django.db import transaction
from django.utils import timezone

from afficone.celery import send_task
from affiliates.services import batched_commission_notices

from . import slots
from .models import StripeEvent
from .services import asynchronous_commits, process_event, process_next_event, sweep_stale_events

log = logging.getLogger(__name__)

# The tasks (tasks.py, which imports this module) that this module enqueues, by the names queued messages carry.
DRAIN_TASK = "stripe_integration.tasks.drain_stripe_events_task"
PROCESS_TASK = "stripe_integration.tasks.process_stripe_event_task"
ASK_TASK = "stripe_integration.tasks.ask_for_drainer_task"

# A drainer hands over to a fresh task (same slot) after this many events or seconds, so a long backlog never holds a
# worker process past Celery's time limits and other tasks (emails, rollups) get their turn in between.
BUDGET_EVENTS = 1000
BUDGET_SECONDS = 10.0
# A chunk: up to this many events or seconds; its new-commission emails go as one task.
CHUNK = 50
CHUNK_SECONDS = 5.0


def request_drain() -> bool:
    """Starts a drainer in the first free slot; False when every slot is taken (a running drainer will get there).

    Call it after the events to process are committed (`request_drain_on_commit` inside a transaction).
    """
    token = slots.new_token()
    try:
        slot = slots.take_free(token)
    except redis.RedisError:
        log.warning(
            "Redis unreachable: no Stripe event drainer asked for; the periodic sweep starts one", exc_info=True
        )
        return False
    if slot is None:
        return False
    if _start(slot, token):
        return True
    slots.free(slot, token)  # the broker is down: the periodic sweep starts one later
    return False


def request_drain_on_commit() -> None:
    """Asks for a drainer once the current transaction commits (at once outside one). Never fails the caller (the
    webhook has stored its event by then): what cannot be asked is left to the periodic sweep."""
    transaction.on_commit(request_drain, robust=True)


def request_drain_if_pending() -> bool:
    """Asks for a drainer when an event is pending that no running drainer holds."""
    return _claimable_exists() and request_drain()


def take_over() -> None:
    """For a worker that has just started (tasks.py, on worker_ready): a drainer that died with an earlier worker left
    its slot, and its events pending; the slot is free within SLOT_TTL. So a drainer is asked for now and, if every
    slot is still held, again once the first of them has expired (`ASK_TASK`, which asks only if events are pending):
    a killed worker's backlog is taken over within seconds of its restart, not at the next sweep."""
    if request_drain():
        return
    try:
        wait = slots.seconds_until_one_frees()
    except redis.RedisError:
        return  # the periodic sweep asks once Redis is back
    if wait is not None:
        send_task(ASK_TASK, countdown=wait + 0.2)


def _start(slot: int | None, token: int | None) -> bool:
    try:
        send_task(DRAIN_TASK, slot, kwargs={"token": token} if token is not None else None)
    except Exception:
        log.exception("could not enqueue a Stripe event drainer")
        return False
    return True


def drain(slot: int | None = None, token: int | None = None) -> int:
    """Processes pending events until none is left (or the budget is spent, then hands over); returns how many.

    `slot` and `token` are the slot the asker took for this drainer and the token it took it with (no slot: one
    started by hand, holding none; no token: a message of an earlier version). A drainer whose slot another holds
    leaves at once: that one drains what is pending. If the database goes away, the slot is given back and the error
    raised: the events stay pending for the next ask or the sweep.
    """
    if slot is None:
        return _drain(None, None)
    held_with = slots.adopt(slot, token)
    if held_with is None:
        return 0
    with slots.Holding(slot, held_with) as holding:
        return _drain(slot, holding)


def _drain(slot: int | None, holding: slots.Holding | None) -> int:
    done = 0
    started = time.monotonic()
    position = 0  # the last event's id
    while True:
        while True:
            count, position = _drain_chunk(CHUNK, CHUNK_SECONDS, position)
            if not count:
                break
            done += count
            if holding is not None and holding.lost and not holding.retake():
                return done  # the slot expired under this drainer and another took it: that one goes on
            if done >= BUDGET_EVENTS or time.monotonic() - started > BUDGET_SECONDS:
                # Hand over to a fresh task (with this slot and token, if any); if that cannot be enqueued, the slot
                # is freed on the way out and the next ask or the sweep carries on.
                if _start(slot, holding.token if holding is not None else None) and holding is not None:
                    holding.hand_over()
                return done
        if holding is None:
            return done
        holding.free()
        # The slot is given back; look once more. An event committed after the last claim found nothing, whose ask
        # saw this slot still taken, is seen here; if its ask came later, it found a free slot itself. Events another
        # drainer is processing do not count (it has them), or this one would spin while it works.
        if not _claimable_exists() or not holding.retake():
            return done


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
