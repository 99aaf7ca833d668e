"""The hand-written statements of the Stripe event hot paths: storing an event (every webhook), claiming one (every
event a drainer processes) and waking the events that wait for a payment (every attributed payment).
tests/stripe_integration/test_sql.py holds each to the result of the ORM's statements. Column lists and values come
from the model, never typed out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field

from afficone import rawsql
from tenants.models import Merchant

from ..models import StripeEvent

RUNNABLE = (StripeEvent.Status.PENDING, StripeEvent.Status.WAITING, StripeEvent.Status.FAILED)


def column(field: Field) -> str:
    """The column of a concrete field (always named; the type allows None for the others)."""
    assert field.column is not None
    return field.column


def insert_event_unless_stored(
    event: StripeEvent, *, raw: str | None = None, unmatched: tuple[str, str] = (StripeEvent.Status.IGNORED, "")
) -> bool:
    """Stores the new `event`, its merchant looked up from `event.account` on the way; False for a duplicate
    (`stripe_id` stored already: nothing written).

    With a merchant the row gets `event.status` and `event.error`; with none (an unknown or empty account), the
    status and error of `unmatched`. `raw` is the JSON text of `event.payload`, stored as it is. Sets `event.pk`,
    `merchant_id`, `status` and `error`.

    INSERT ... SELECT ... LEFT JOIN merchant ON stripe_account_id ... ON CONFLICT (stripe_id) DO NOTHING RETURNING:
    one round trip whether the event is new, a duplicate or for an unknown account, and no failing statement that
    would break a surrounding transaction. Postgres and SQLite (3.35+).
    """
    qn = connection.ops.quote_name
    fields = [f for f in StripeEvent._meta.concrete_fields if not f.primary_key]
    columns, exprs, params = [], [], []
    for field in fields:
        columns.append(qn(column(field)))
        if field.name == "merchant":
            exprs.append("m.id")
        elif field.name in ("status", "error"):
            exprs.append("CASE WHEN m.id IS NULL THEN %s ELSE %s END")
            params += [unmatched[0] if field.name == "status" else unmatched[1], getattr(event, field.name)]
        elif field.name == "payload" and raw is not None:
            exprs.append("CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s")
            params.append(raw)
        else:
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(event, add=True), connection))
    # "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as the join's ON.
    sql = (
        f"INSERT INTO {qn(StripeEvent._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} FROM (SELECT 1 AS one) AS one "
        f"LEFT JOIN {qn(Merchant._meta.db_table)} m ON m.{qn('stripe_account_id')} = %s AND %s <> '' WHERE 1 = 1 "
        f"ON CONFLICT (stripe_id) DO NOTHING RETURNING id, merchant_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, event.account, event.account])
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk, event.merchant_id = row
    if event.merchant_id is None:
        event.status, event.error = unmatched
    return True


def wake_events(merchant_id: int, keys: list[str], *, now: datetime) -> int:
    """The merchant's events waiting for one of `keys` go back to pending, enqueued at `now`; returns how many.

    What `StripeEvent.objects.filter(merchant_id=..., status=WAITING, waiting_for__in=keys).update(status=PENDING,
    enqueued_at=now)` does, in the same single UPDATE, without the ORM building it anew on every call
    (bench/note_payment.py compares the two).
    """
    if not keys:
        return 0
    qn = connection.ops.quote_name
    enqueued_at = StripeEvent._meta.get_field("enqueued_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(StripeEvent._meta.db_table)} SET status = %s, enqueued_at = %s "
            f"WHERE merchant_id = %s AND status = %s AND waiting_for IN ({', '.join(['%s'] * len(keys))})",
            [StripeEvent.Status.PENDING, enqueued_at, merchant_id, StripeEvent.Status.WAITING, *keys],
        )
        return cursor.rowcount


def claim_event(event_id: int | None, changes: dict[str, Any], *, after: int = 0) -> StripeEvent | None:
    """Applies `changes` (and one more attempt) to a runnable event that has a merchant, locking its row until the
    transaction ends, and returns it with its merchant; None when there is no such event. `event_id` None takes the
    oldest pending event after id `after` that no other transaction holds (FOR UPDATE SKIP LOCKED, through the
    partial index stripe_event_pending). Postgres only.

    UPDATE ... FROM merchant ... RETURNING, one statement: under READ COMMITTED a second worker's UPDATE waits for the
    row, then finds it no longer runnable, exactly as SELECT ... FOR UPDATE with the status filter and an UPDATE do
    (claiming.claim_with_orm).
    """
    qn = connection.ops.quote_name
    table = qn(StripeEvent._meta.db_table)
    event_fields, event_columns = rawsql.columns(StripeEvent, "e")
    merchant_fields, merchant_columns = rawsql.columns(Merchant, "m")
    assignments, params = [], []
    for name, value in changes.items():
        field = StripeEvent._meta.get_field(name)
        assert isinstance(field, Field)
        assignments.append(f"{qn(column(field))} = %s")
        params.append(field.get_db_prep_save(value, connection))
    if event_id is None:
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
    event, merchant = rawsql.split(row, (StripeEvent, event_fields), (Merchant, merchant_fields))
    assert isinstance(event, StripeEvent) and isinstance(merchant, Merchant)
    event.merchant = merchant
    return event
