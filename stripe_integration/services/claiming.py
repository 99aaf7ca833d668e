"""Claiming an event for processing: row-locked while runnable, marked processed in the same statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone

from afficone import rawsql

from ..models import StripeEvent
from . import sql
from .sql import RUNNABLE

# Whether this connection's session already commits asynchronously (`asynchronous_commits`), sparing each event's
# transaction its own SET LOCAL.
_asynchronous_session: ContextVar[bool] = ContextVar("afficone_asynchronous_session", default=False)


@contextmanager
def asynchronous_commits() -> Iterator[None]:
    """For a drainer: every transaction inside commits without waiting for its WAL flush (see `claim`), set once
    for the session rather than once per event, and reset after. A transaction that must be durable anyway (one that
    writes buffered clicks and then acknowledges them in Redis) sets synchronous_commit back on for itself."""
    if connection.vendor != "postgresql":
        yield
        return
    rawsql.session_commits_asynchronously()
    token = _asynchronous_session.set(True)
    try:
        yield
    finally:
        _asynchronous_session.reset(token)
        try:
            rawsql.session_commits_by_default()
        except DatabaseError:
            connection.close()  # a broken connection: the next user opens a fresh one, with the default


def claim(event_id: int | None, *, after: int = 0) -> StripeEvent | None:
    """Locks a runnable event and marks it processed (the outcome of almost every run; the transaction rolls it back
    if the handler fails), returning it with its merchant; None when there is none to claim. `event_id` None claims
    the oldest pending event after id `after` not locked by another transaction, for the drainers.

    One statement on Postgres (sql.claim_event). Elsewhere (SQLite), or for an event without a merchant, the ORM's
    (`claim_with_orm`).
    """
    now = timezone.now()
    changes = dict(
        status=StripeEvent.Status.PROCESSED,
        waiting_for="",
        error="",
        traceback="",
        outcome="",
        last_attempt_at=now,
        processed_at=now,
    )
    if connection.vendor == "postgresql":
        # The event itself is already durable (the webhook's commit waited for the disk); this transaction's results
        # can be rebuilt from it. So it does not wait for its own WAL flush: if Postgres crashed in the next fraction
        # of a second, the event would be found pending again and the periodic sweep would re-run it (idempotently).
        if not _asynchronous_session.get():
            rawsql.commit_asynchronously()
        event = sql.claim_event(event_id, changes, after=after)
        if event is not None or event_id is None:
            return event
    return claim_with_orm(event_id, changes, after=after)


def claim_with_orm(event_id: int | None, changes: dict[str, Any], *, after: int = 0) -> StripeEvent | None:
    """What sql.claim_event does, in the ORM's statements: SELECT ... FOR UPDATE, then UPDATE. For any event
    (one without a merchant too); `event_id` None takes the oldest pending one with a merchant after id `after`,
    without skipping locked rows (SQLite, where this runs, serialises writers anyway)."""
    if event_id is None:
        event_id = (
            StripeEvent.objects.filter(status=StripeEvent.Status.PENDING, merchant__isnull=False, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if event_id is None:
            return None
    event = (
        StripeEvent.objects.select_for_update(of=("self",))
        .select_related("merchant")
        .filter(pk=event_id, status__in=RUNNABLE)
        .first()
    )
    if event is None:
        return None
    event.attempts += 1
    for name, value in changes.items():
        setattr(event, name, value)
    StripeEvent.objects.filter(pk=event.pk).update(attempts=event.attempts, **changes)
    return event
