"""Storing a verified event: one statement, its merchant found on the way, duplicates recognised."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection

from tenants.models import Merchant

from ..models import StripeEvent


def store_event(payload: dict, *, raw: str | None = None) -> StripeEvent | None:
    """Stores a verified event; None for a duplicate (already stored, nothing done). The caller asks for its
    processing (drainers.request_drain_on_commit) when the event has a merchant.

    Idempotency key: `StripeEvent.stripe_id` (unique). Events of an unknown account are stored as IGNORED. `raw` is the
    JSON text `payload` was parsed from (the webhook's body): stored as it is rather than serialised again.
    """
    account = payload.get("account") or ""
    created = payload.get("created")
    event = StripeEvent(
        stripe_id=payload["id"][:255],
        type=str(payload["type"])[:100],
        account=account[:255],
        livemode=bool(payload.get("livemode")),
        payload=payload,
        stripe_created_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
    )
    if not _insert_unless_stored(event, raw=raw):
        return None
    return event


UNKNOWN_ACCOUNT = "No merchant is connected to this Stripe account."


def _insert_unless_stored(event: StripeEvent, *, raw: str | None = None) -> bool:
    """Stores `event` in one statement, its merchant looked up from `account` on the way; False for a duplicate.

    INSERT ... SELECT ... LEFT JOIN merchant ON stripe_account_id ... ON CONFLICT (stripe_id) DO NOTHING RETURNING:
    a single round trip whether the event is new, a duplicate or for an unknown account (stored IGNORED), and no
    failing statement that would break a surrounding transaction. Sets `event.pk`, `merchant_id` and `status`.
    """
    qn = connection.ops.quote_name
    fields = [f for f in StripeEvent._meta.concrete_fields if not f.primary_key]
    columns, exprs, params = [], [], []
    for field in fields:
        columns.append(qn(field.column))
        if field.name == "merchant":
            exprs.append("m.id")
        elif field.name == "status":
            exprs.append("CASE WHEN m.id IS NULL THEN %s ELSE %s END")
            params += [StripeEvent.Status.IGNORED, StripeEvent.Status.PENDING]
        elif field.name == "error":
            exprs.append("CASE WHEN m.id IS NULL THEN %s ELSE '' END")
            params.append(UNKNOWN_ACCOUNT)
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
        cursor.execute(sql, params + [event.account, event.account])
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk, event.merchant_id = row
    event.status = StripeEvent.Status.PENDING if event.merchant_id else StripeEvent.Status.IGNORED
    event.error = "" if event.merchant_id else UNKNOWN_ACCOUNT
    return True
