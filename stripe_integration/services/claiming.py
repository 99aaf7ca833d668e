"""Claiming an event for processing: row-locked while runnable, marked processed in the same statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DatabaseError, connection
from django.utils import timezone

from afficone import rawsql
from tenants.models import Merchant

from ..models import StripeEvent

RUNNABLE = (StripeEvent.Status.PENDING, StripeEvent.Status.WAITING, StripeEvent.Status.FAILED)

# Whether this connection's session already commits asynchronously (`asynchronous_commits`), sparing each event's
# transaction its own SET LOCAL.
_asynchronous_session: ContextVar[bool] = ContextVar("afficone_asynchronous_session", default=False)


@contextmanager
def asynchronous_commits() -> Iterator[None]:
    """For a drainer: every transaction inside commits without waiting for its WAL flush (see `_claim`), set once
    for the session rather than once per event, and reset after. A transaction that must be durable anyway (one that
    writes buffered clicks and then acknowledges them in Redis) sets synchronous_commit back on for itself."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    token = _asynchronous_session.set(True)
    try:
        yield
    finally:
        _asynchronous_session.reset(token)
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            connection.close()  # a broken connection: the next user opens a fresh one, with the default


def _claim(event_id: int | None, *, after: int = 0) -> StripeEvent | None:
    """Locks a runnable event and marks it processed (the outcome of almost every run; the transaction rolls it back
    if the handler fails), returning it with its merchant: one statement on Postgres,
    UPDATE ... FROM merchant ... RETURNING. Under READ COMMITTED a second worker's UPDATE waits for the row and then
    finds it no longer runnable, exactly as SELECT ... FOR UPDATE with the status filter did. `event_id` None claims
    the oldest pending event after id `after` not locked by another transaction (FOR UPDATE SKIP LOCKED), for the
    drainers.

    Elsewhere (SQLite), or for an event without a merchant, the ORM reads the row FOR UPDATE and updates it.
    """
    now = timezone.now()
    changes = dict(
        status=StripeEvent.Status.PROCESSED,
        waiting_for="",
        error="",
        traceback="",
        last_attempt_at=now,
        processed_at=now,
    )
    if connection.vendor == "postgresql":
        # The event itself is already durable (the webhook's commit waited for the disk); this transaction's results
        # can be rebuilt from it. So it does not wait for its own WAL flush: if Postgres crashed in the next fraction
        # of a second, the event would be found pending again and the periodic sweep would re-run it (idempotently).
        if not _asynchronous_session.get():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        event = _claim_returning(event_id, changes, after=after)
        if event is not None or event_id is None:
            return event
    if event_id is None:  # SQLite serialises writers: the oldest pending event is free to take
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


def _claim_returning(event_id: int | None, changes: dict, *, after: int = 0) -> StripeEvent | None:
    qn = connection.ops.quote_name
    table = qn(StripeEvent._meta.db_table)
    event_fields, event_columns = rawsql.columns(StripeEvent, "e")
    merchant_fields, merchant_columns = rawsql.columns(Merchant, "m")
    assignments, params = [], []
    for name, value in changes.items():
        field = StripeEvent._meta.get_field(name)
        assignments.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    if event_id is None:  # the oldest pending event, through the partial index stripe_event_pending
        target = (
            f"(SELECT id FROM {table} WHERE status = %s AND merchant_id IS NOT NULL AND id > %s "
            f"ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        )
        params += [StripeEvent.Status.PENDING, after]
    else:
        target = "%s"
        params.append(event_id)
    sql = (
        f"UPDATE {table} AS e SET {', '.join(assignments)}, attempts = e.attempts + 1 "
        f"FROM {qn(Merchant._meta.db_table)} AS m "
        f"WHERE e.id = {target} AND e.status IN ({', '.join(['%s'] * len(RUNNABLE))}) AND m.id = e.merchant_id "
        f"RETURNING {event_columns}, {merchant_columns}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *RUNNABLE])
        row = cursor.fetchone()
    if row is None:
        return None
    event, event.merchant = rawsql.split(row, (StripeEvent, event_fields), (Merchant, merchant_fields))
    return event
