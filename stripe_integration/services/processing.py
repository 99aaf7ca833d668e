"""Processing stored events: claim one, run its handler, record the outcome; the periodic sweep."""

from __future__ import annotations

import logging
import traceback as tb
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from tenants.models import Merchant

from ..models import StripeEvent
from .claiming import claim
from .handlers import HANDLERS, MAY_WAIT, WHEN_DISCONNECTED
from .lookups import reads_once
from .payload import event_object
from .waiting import WaitFor

log = logging.getLogger(__name__)

# A failed event is retried by the periodic sweep until it has been attempted this often.
MAX_ATTEMPTS = 8

# Errors worth retrying: the database or Stripe were briefly unreachable, or two transactions deadlocked.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    stripe.APIConnectionError,
    stripe.RateLimitError,
)


# --- processing -----------------------------------------------------------------------------------------------------


def process_event(event_id: int) -> str | None:
    """Runs the handler of one stored event, once; returns the event's new status (None if there was nothing to do).

    Idempotency key: the event row, claimed (row-locked until commit) only while pending, waiting or failed; the
    handlers' own writes are idempotent too (commissions are unique per source). A failure rolls the handler back and
    is recorded on the row (error, traceback, attempts); transient errors are re-raised so the task retries them.
    """
    return _process(event_id, reraise_transient=True)[1]


def process_next_event(*, after: int = 0) -> tuple[int, str] | None:
    """Claims the oldest pending event after id `after` that no other drainer holds and processes it, as
    `process_event` does; returns (its id, its new status), or None when none is pending. A failure, transient or
    not, is recorded on the event, which the periodic sweep retries with back-off; only an error before anything was
    claimed (the database is down) is raised.

    `after` lets a drainer go on from its last event: the pending events' index keeps an entry for every event
    processed since the last vacuum, and a claim from the start would walk past all of them every time.
    """
    claimed_id, status = _process(None, reraise_transient=False, after=after)
    if claimed_id is None or status is None:
        return None
    return claimed_id, status


def _process(event_id: int | None, *, reraise_transient: bool, after: int = 0) -> tuple[int | None, str | None]:
    claimed_id = event_id
    try:
        with transaction.atomic():
            event = claim(event_id, after=after)
            if event is None:
                return None, None  # processed, ignored or gone (a redelivery is a no-op), or nothing pending
            claimed_id = event.pk
            status, waiting_for, error, outcome = _run_handler(event)
            if (status, waiting_for, error, outcome) != (StripeEvent.Status.PROCESSED, "", "", ""):
                # The claim wrote "processed"; the rarer outcomes (waiting, ignored, a note on why nothing was
                # earned) rewrite it.
                StripeEvent.objects.filter(pk=event.pk).update(
                    status=status,
                    waiting_for=waiting_for,
                    error=error,
                    outcome=outcome[:255],
                    processed_at=None if status == StripeEvent.Status.WAITING else event.processed_at,
                )
            return claimed_id, status
    except Exception as exc:
        if claimed_id is None:
            raise
        _record_failure(claimed_id, exc)
        if isinstance(exc, TRANSIENT_ERRORS):
            if reraise_transient:
                raise
            log.warning("Stripe event %s failed (%s: %s); the sweep retries it", claimed_id, type(exc).__name__, exc)
        else:
            log.exception("Stripe event %s failed", claimed_id)
        return claimed_id, StripeEvent.Status.FAILED


def _run_handler(event: StripeEvent) -> tuple[str, str, str, str]:
    """(status, waiting for, error, outcome): what running the event's handler came to."""
    merchant = event.merchant
    if merchant is None:
        return StripeEvent.Status.IGNORED, "", "No merchant is connected to this Stripe account.", ""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return StripeEvent.Status.IGNORED, "", "", ""
    # An envelope or object of another shape than Stripe's raises ValueError, naming the field: the event fails.
    obj = event_object(event.payload)
    if settings.STRIPE_LIVE_EVENTS_ONLY and not event.livemode:
        # A live Connect endpoint also receives the test-mode events of its accounts: a test checkout earns nothing.
        return StripeEvent.Status.IGNORED, "", "A test-mode event; this installation attributes live payments only.", ""
    if merchant.stripe_status == Merchant.StripeStatus.DISCONNECTED and event.type not in WHEN_DISCONNECTED:
        return StripeEvent.Status.IGNORED, "", "The merchant had disconnected Stripe.", ""
    if handler not in MAY_WAIT:
        # Any error rolls back the whole transaction, claim included: no savepoint needed (two round trips saved).
        with reads_once():
            outcome = handler(merchant, obj, event)
        return StripeEvent.Status.PROCESSED, "", "", outcome or ""
    try:
        with transaction.atomic(), reads_once():  # a handler that parks the event leaves nothing half-written
            outcome = handler(merchant, obj, event)
    except WaitFor as wait:
        return StripeEvent.Status.WAITING, wait.key[:255], "", ""
    return StripeEvent.Status.PROCESSED, "", "", outcome or ""


def _record_failure(event_id: int, exc: BaseException) -> None:
    now = timezone.now()
    StripeEvent.objects.filter(pk=event_id).exclude(status=StripeEvent.Status.PROCESSED).update(
        status=StripeEvent.Status.FAILED,
        error=f"{type(exc).__name__}: {exc}"[:2000],
        traceback="".join(tb.format_exception(exc))[-10000:],
        last_attempt_at=now,
    )
    StripeEvent.objects.filter(pk=event_id, status=StripeEvent.Status.FAILED).update(attempts=F("attempts") + 1)


def sweep_stale_events(*, now: datetime, limit: int = 500) -> tuple[list[int], list[int]]:
    """What the periodic sweep gets processed (drainers.requeue_stale_events), each event marked enqueued at `now`:
    pending events older than a minute and not swept in the last five, oldest first, for a drainer; and failed events
    with attempts left whose back-off (a minute, doubling per attempt, at most an hour) has passed, for a task each.
    """
    minute_ago = now - timedelta(minutes=1)
    pending = Q(status=StripeEvent.Status.PENDING) & (
        Q(enqueued_at__isnull=True, received_at__lt=minute_ago) | Q(enqueued_at__lt=now - timedelta(minutes=5))
    )
    failed_ids = []
    for pk, attempts, last in StripeEvent.objects.filter(
        status=StripeEvent.Status.FAILED, attempts__lt=MAX_ATTEMPTS, merchant__isnull=False
    ).values_list("pk", "attempts", "last_attempt_at")[:limit]:
        if last is None or last < now - min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=1)):
            failed_ids.append(pk)
    stale_ids = list(
        StripeEvent.objects.filter(pending, merchant__isnull=False)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    if stale_ids or failed_ids:
        StripeEvent.objects.filter(pk__in=stale_ids + failed_ids).update(enqueued_at=now)
    return stale_ids, failed_ids
