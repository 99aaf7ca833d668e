"""Reconciliation with Stripe: the events the webhook missed, read back from Stripe's Events API.

`manage.py stripe_sync`, the "Check for missed events" button (Settings -> Stripe, which also offers it right after
connecting) and a nightly beat task each make a run (`StripeSync`). A run pages through the connected account's
`GET /v1/events` through the one StripeClient (client.py): newest first, `limit=100`, `starting_after` while
`has_more`, `created[gte]` the run's `since` (at most 30 days back: all Stripe keeps), `types` the event types the
webhook handles (services.WEBHOOK_EVENT_TYPES), with the account's `Stripe-Account` header. The events not stored
yet go through the webhook's own path, `services.store_event` (unique by Stripe's event id), and a drainer is asked
for after the commit as the webhook asks (`drainers.request_drain_on_commit`), so they are processed exactly as if
the webhook had delivered them. Running it again, or after the webhook delivered everything, stores nothing.

Order: the missing events are held (up to CHUNK) and stored oldest first, so their ids follow Stripe's order as the
webhook's would; a backlog bigger than that is stored a chunk at a time, newest chunk first, which processing does
not mind (order never changes the result: tests/stripe_integration/test_ordering.py).

Errors: 429s, 5xx and dropped connections are retried with back-off within the task (after the client's own
retries); 401 and 403 (access revoked) end the run with a readable message. Whatever happens, what was read before
is stored, and the error is kept on the run for the settings page. The nightly check queues one task per merchant,
so one merchant's failure never holds up another's; disconnected merchants are skipped.

A task works on a run for TASK_BUDGET_SECONDS, then hands over to a fresh task that goes on from the run's cursor
(well inside Celery's time limits). It holds the run with a lease, renewed after every page, so a redelivered task
never runs beside it, and a worker that died leaves a run the next task (or request) takes up again.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import stripe
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from stripe.params import EventListParams

from afficone.celery import send_task
from tenants.models import Merchant, User

from .client import stripe_client
from .drainers import request_drain_on_commit
from .models import StripeEvent, StripeSync
from .services import WEBHOOK_EVENT_TYPES, store_event

log = logging.getLogger(__name__)

# The task (tasks.py, which imports this module) that works on a run, by the name queued messages carry.
SYNC_TASK = "stripe_integration.tasks.sync_stripe_events_task"

WINDOW = timedelta(days=30)  # how far back Stripe's Events API goes
PAGE_LIMIT = 100  # the most Stripe lists at once
MAX_TYPES = 20  # the most event types one list request may filter on
CHUNK = 500  # missing events held before they are stored
TASK_BUDGET_SECONDS = 30.0
LEASE = timedelta(minutes=2)
# A queued or running run that made no progress for this long is taken as dead: a new request replaces it.
STALE = timedelta(minutes=15)
# The nightly check reads again from a day before what earlier runs covered: Stripe may list an event late.
OVERLAP = timedelta(days=1)

HANDLED = frozenset(WEBHOOK_EVENT_TYPES)

INTERRUPTED = (
    "The check stopped without finishing (its worker was restarted or the queue was down); a new one replaced it."
)


class SyncError(Exception):
    """A run cannot be made; the message is shown to the user as is."""


# --- asking for a run -----------------------------------------------------------------------------------------------


def sync_window_start(since: datetime | None, *, now: datetime) -> datetime:
    """The `since` a run uses: the one asked for, no earlier than 30 days ago (also the default)."""
    floor = now - WINDOW
    if since is None or since < floor:
        return floor
    if since > now:
        raise SyncError(f"The start of the check ({since:%Y-%m-%d %H:%M} UTC) is in the future.")
    return since


def nightly_since(merchant: Merchant, *, now: datetime) -> datetime:
    """Where the nightly check starts: a day before the end of what earlier finished runs checked without a gap,
    never earlier than 30 days ago nor than the merchant's connection (events from before it are imported only on
    request: the offer after connecting, the button, the command)."""
    floor = now - WINDOW
    if merchant.stripe_connected_at is not None:
        floor = max(floor, merchant.stripe_connected_at)
    covered = floor
    finished = StripeSync.objects.for_merchant(merchant).filter(
        status=StripeSync.Status.SUCCEEDED, account=merchant.stripe_account_id, started_at__gt=floor
    )
    for since, started_at in finished.order_by("since").values_list("since", "started_at"):
        if since <= covered and started_at is not None:
            covered = max(covered, started_at)
    return max(floor, covered - OVERLAP)


def request_stripe_sync(
    merchant: Merchant,
    *,
    trigger: str,
    since: datetime | None = None,
    requested_by: User | None = None,
    enqueue: bool = True,
    now: datetime | None = None,
) -> tuple[StripeSync, bool]:
    """Queues a run for `merchant` reading from `since` (30 days back by default and at most) and, with `enqueue`,
    its task once the transaction commits; returns (the run, whether it is new).

    Idempotency key: one queued or running run per merchant (`one_active_stripe_sync`): while one is under way, it
    is returned instead of a second. One that made no progress for STALE is marked failed and replaced. Raises
    SyncError for a merchant not connected to Stripe.
    """
    now = now or timezone.now()
    if not merchant.is_stripe_connected:
        raise SyncError("Stripe is not connected, so there is nothing to check. Connect Stripe first.")
    assert merchant.stripe_account_id is not None
    start = sync_window_start(since, now=now)
    with transaction.atomic():
        active = StripeSync.objects.for_merchant(merchant).filter(status__in=StripeSync.ACTIVE).first()
        if active is not None:
            if active.updated_at > now - STALE:
                return active, False
            _end(active, StripeSync.Status.FAILED, INTERRUPTED, now=now)
        try:
            with transaction.atomic():
                run = StripeSync.objects.create(
                    merchant=merchant,
                    account=merchant.stripe_account_id,
                    trigger=trigger,
                    requested_by=requested_by,
                    since=start,
                    updated_at=now,
                )
        except IntegrityError:  # another request queued one at the same moment
            return StripeSync.objects.for_merchant(merchant).get(status__in=StripeSync.ACTIVE), False
        if enqueue:
            # Robust: with the broker down the run stays queued, and the next request after STALE replaces it.
            transaction.on_commit(partial(send_task, SYNC_TASK, run.pk), robust=True)
    return run, True


def sync_connected_merchants(*, now: datetime | None = None) -> int:
    """The nightly check: a run queued, each with its own task, for every merchant connected to Stripe (disconnected
    ones are skipped), from `nightly_since`; returns how many were queued. One merchant's failure, even to queue,
    never stops the others."""
    now = now or timezone.now()
    queued = 0
    connected = Merchant.objects.filter(
        stripe_status=Merchant.StripeStatus.CONNECTED, stripe_account_id__isnull=False
    ).order_by("pk")
    for merchant in connected.iterator():
        try:
            _, created = request_stripe_sync(
                merchant, trigger=StripeSync.Trigger.NIGHTLY, since=nightly_since(merchant, now=now), now=now
            )
        except Exception:
            log.exception("Could not queue the nightly Stripe check of merchant %s", merchant.pk)
            continue
        queued += created
    return queued


# --- running one ----------------------------------------------------------------------------------------------------


@dataclass
class _Reading:
    """A run's progress in memory: the counters and cursor up to the last page read, and the missing events of the
    pages read since the last flush (newest first, as listed). The row holds the state as of the last flush."""

    run: StripeSync
    missing: list[dict] = field(default_factory=list)


def run_stripe_sync(sync_id: int, *, budget_seconds: float | None = None) -> StripeSync | None:
    """Works on run `sync_id` until it is done or `budget_seconds` have passed (then a fresh task goes on from the
    cursor); returns the run as it is then, or None when there was nothing to do (finished already, or held by
    another task).

    Idempotency key: stored events are unique by Stripe's event id, and the run is held under a lease; a redelivered
    task finds the run finished or held, or goes on from its cursor. Stripe's errors end the run with the error on it;
    any other error is recorded and raised.
    """
    run = _claim(sync_id)
    if run is None:
        return None
    merchant = run.merchant
    if not merchant.is_stripe_connected:
        return _end(run, StripeSync.Status.FAILED, "Stripe was disconnected before the check ran: nothing was read.")
    if merchant.stripe_account_id != run.account:
        return _end(
            run,
            StripeSync.Status.FAILED,
            f"The merchant connected another Stripe account ({merchant.stripe_account_id}) before the check of "
            f"{run.account} ran: nothing was read.",
        )
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    reading = _Reading(run)
    try:
        while True:
            has_more = _read_page(reading)
            if not has_more:
                _flush(reading)
                return _end(run, StripeSync.Status.SUCCEEDED, "")
            if len(reading.missing) >= CHUNK:
                _flush(reading)
            elif not reading.missing:
                _flush(reading)  # nothing held: the progress itself is saved
            else:
                _renew(run)
            if deadline is not None and time.monotonic() > deadline:
                return _hand_over(reading)
    except SoftTimeLimitExceeded:
        log.warning("Stripe check %s reached the task's time limit; a fresh task goes on from its cursor", run.pk)
        return _hand_over(reading)
    except stripe.StripeError as exc:
        _flush(reading)
        log.warning("Stripe check %s of %s failed: %r", run.pk, run.account, exc)
        return _end(run, StripeSync.Status.FAILED, explain(exc, run.account))
    except Exception as exc:
        _end(run, StripeSync.Status.FAILED, f"The check stopped on an error in Afficone ({type(exc).__name__}).")
        raise


def _read_page(reading: _Reading) -> bool:
    """Reads the next page after the cursor; keeps its missing events of handled types; returns `has_more`."""
    run = reading.run
    params: EventListParams = {"limit": PAGE_LIMIT, "created": {"gte": int(run.since.timestamp())}}
    if len(HANDLED) <= MAX_TYPES:
        params["types"] = sorted(HANDLED)
    if run.cursor:
        params["starting_after"] = run.cursor
    page = _list_events(run.account, params)
    events = [e for e in page.get("data") or [] if isinstance(e, dict) and isinstance(e.get("id"), str)]
    handled = [e for e in events if e.get("type") in HANDLED and e.get("account") in (None, "", run.account)]
    known = set(
        StripeEvent.objects.filter(stripe_id__in=[e["id"] for e in handled]).values_list("stripe_id", flat=True)
    )
    for event in handled:
        if event["id"] not in known:
            event["account"] = run.account  # as the Connect webhook sends it: the account names the merchant
            reading.missing.append(event)
    run.pages += 1
    run.events_seen += len(events)
    if events:
        run.cursor = events[-1]["id"]
    return bool(page.get("has_more")) and bool(events)


def _list_events(account: str, params: EventListParams) -> dict:
    """One page of the account's events (`GET /v1/events`, Stripe's list object), retried with back-off
    (STRIPE_SYNC_BACKOFF_SECONDS, doubling) while Stripe answers 429 or 5xx or cannot be reached, STRIPE_SYNC_RETRIES
    times; the last error is raised.

    The page is read as the plain JSON Stripe sent, not as the library's objects (which turn `*_decimal` strings into
    Decimals): events are stored as Stripe wrote them, as the webhook stores its body.
    """
    attempt = 0
    while True:
        try:
            response = stripe_client().raw_request("get", "/v1/events", stripe_account=account, **params)
            return json.loads(response.body)
        except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
            error: stripe.StripeError = exc
        except stripe.APIError as exc:
            if exc.http_status is not None and exc.http_status < 500:
                raise
            error = exc
        if attempt >= settings.STRIPE_SYNC_RETRIES:
            raise error
        delay = settings.STRIPE_SYNC_BACKOFF_SECONDS * 2**attempt
        attempt += 1
        log.info("Stripe answered %r listing events of %s; trying again in %.1f s", error, account, delay)
        time.sleep(delay)


def _flush(reading: _Reading) -> None:
    """Stores the missing events held, oldest first, and saves the run's progress, in one transaction; asks for a
    drainer after the commit if anything was stored (as the webhook does)."""
    run = reading.run
    now = timezone.now()
    with transaction.atomic():
        stored = 0
        for payload in reversed(reading.missing):
            event = store_event(payload)
            if event is not None:  # None: the webhook stored it meanwhile
                stored += 1
        StripeSync.objects.filter(pk=run.pk).update(
            cursor=run.cursor,
            pages=run.pages,
            events_seen=run.events_seen,
            events_stored=run.events_stored + stored,
            updated_at=now,
            leased_until=now + LEASE,
        )
        if stored:
            request_drain_on_commit()
    # Only once committed: a flush interrupted (the task's time limit) is done again in full.
    run.events_stored += stored
    reading.missing.clear()


def _renew(run: StripeSync) -> None:
    now = timezone.now()
    StripeSync.objects.filter(pk=run.pk).update(updated_at=now, leased_until=now + LEASE)


def _claim(sync_id: int) -> StripeSync | None:
    now = timezone.now()
    claimed = (
        StripeSync.objects.filter(pk=sync_id, status__in=StripeSync.ACTIVE)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(
            status=StripeSync.Status.RUNNING,
            started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
            updated_at=now,
            leased_until=now + LEASE,
        )
    )
    if claimed != 1:
        return None
    return StripeSync.objects.select_related("merchant").get(pk=sync_id)


def _hand_over(reading: _Reading) -> StripeSync:
    """Stores what is held, gives the lease back and queues a fresh task for the rest of the run."""
    run = reading.run
    _flush(reading)
    StripeSync.objects.filter(pk=run.pk).update(leased_until=None)
    try:
        send_task(SYNC_TASK, run.pk)
    except Exception:  # the broker is down: the next request after STALE replaces the run
        log.exception("Could not queue the rest of Stripe check %s", run.pk)
    run.refresh_from_db()
    return run


def _end(run: StripeSync, status: str, error: str, *, now: datetime | None = None) -> StripeSync:
    now = now or timezone.now()
    StripeSync.objects.filter(pk=run.pk).update(
        status=status, error=error[:2000], finished_at=now, updated_at=now, leased_until=None
    )
    run.refresh_from_db()
    return run


def explain(exc: stripe.StripeError, account: str) -> str:
    """What a Stripe error means for the merchant, in words (kept on the run, shown on the settings page)."""
    retries = settings.STRIPE_SYNC_RETRIES + 1
    said = exc.user_message or str(exc)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return (
            f"Stripe refused access to the account {account} (HTTP {exc.http_status}): Afficone's access may have "
            "been revoked in the Stripe dashboard. Reconnect Stripe, then check again. "
            f"Stripe said: {said}"
        )
    if isinstance(exc, stripe.RateLimitError):
        return (
            f"Stripe kept answering that too many requests were made (HTTP 429), {retries} times in a row. The "
            "events read until then were stored; the next check goes on."
        )
    if isinstance(exc, stripe.APIConnectionError):
        return (
            f"Stripe could not be reached, {retries} times in a row. The events read until then were stored; the "
            "next check goes on."
        )
    if isinstance(exc, stripe.APIError):
        return (
            f"Stripe had a problem (HTTP {exc.http_status}), {retries} times in a row. The events read until then "
            "were stored; the next check goes on."
        )
    return f"Stripe refused the request (HTTP {exc.http_status}): {said}"
