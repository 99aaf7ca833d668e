"""Stripe events: storing them, and turning them into referral links and commissions.

The webhook stores each event (`store_event`) and a task runs `process_event`, which dispatches on the event type
through `HANDLERS`. Handlers read what the event carries (no API call): the money math lives in
affiliates/services/ (commissions.py)
(`record_commission`, `apply_refund`, `hold_commission`, `settle_dispute`).

Order does not matter. A handler that needs something another event brings (an invoice before its customer is linked,
a refund before its commission exists) raises `WaitFor(key)`: the event is parked as WAITING with `waiting_for=key`,
and whoever later writes that key (a customer link, a commission naming a PaymentIntent, charge or invoice) wakes the
parked events in the same transaction. Postgres advisory locks on the key make "check, then park" and "write, then
wake" mutually exclusive, so no wake-up is lost between two workers.
"""

from __future__ import annotations

import logging
import traceback as tb
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from zlib import crc32

import stripe
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from afficone import rawsql
from affiliates import money
from affiliates.models import Commission, Referral
from affiliates.queries import referral_with_program
from affiliates.services import (
    apply_refund,
    create_referral,
    hold_commission,
    record_commission,
    reprice_commission,
    settle_dispute,
)
from tenants.models import Merchant
from tracking.services import resolve_reference

from .dispatch import request_drain_on_commit
from .lines import checkout_lines, invoice_lines
from .models import StripeEvent

log = logging.getLogger(__name__)

# A failed event is retried by the periodic sweep until it has been attempted this often.
MAX_ATTEMPTS = 8
# How long an event waits for the customer link or commission it depends on; those normally follow within seconds.
WAIT_LIMIT = timedelta(days=7)
# Errors worth retrying: the database or Stripe were briefly unreachable, or two transactions deadlocked.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    stripe.APIConnectionError,
    stripe.RateLimitError,
)


class WaitFor(Exception):
    """Raised by a handler that needs a related object another event will bring; `key` is that object's id."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


# --- storing --------------------------------------------------------------------------------------------------------


def store_event(payload: dict, *, raw: str | None = None) -> StripeEvent | None:
    """Stores a verified event and asks for its processing; None for a duplicate (already stored, nothing done).

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
    if event.merchant_id:
        request_drain_on_commit()
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
    return None if claimed_id is None else (claimed_id, status)


def _process(event_id: int | None, *, reraise_transient: bool, after: int = 0) -> tuple[int | None, str | None]:
    claimed_id = event_id
    try:
        with transaction.atomic():
            event = _claim(event_id, after=after)
            if event is None:
                return None, None  # processed, ignored or gone (a redelivery is a no-op), or nothing pending
            claimed_id = event.pk
            status, waiting_for, error = _run_handler(event)
            if (status, waiting_for, error) != (StripeEvent.Status.PROCESSED, "", ""):
                # The claim wrote "processed"; the rarer outcomes (waiting, ignored) rewrite it.
                StripeEvent.objects.filter(pk=event.pk).update(
                    status=status,
                    waiting_for=waiting_for,
                    error=error,
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


def _run_handler(event: StripeEvent) -> tuple[str, str, str]:
    merchant = event.merchant
    if merchant is None:
        return StripeEvent.Status.IGNORED, "", "No merchant is connected to this Stripe account."
    handler = HANDLERS.get(event.type)
    if handler is None:
        return StripeEvent.Status.IGNORED, "", ""
    if settings.STRIPE_LIVE_EVENTS_ONLY and not event.livemode:
        # A live Connect endpoint also receives the test-mode events of its accounts: a test checkout earns nothing.
        return StripeEvent.Status.IGNORED, "", "A test-mode event; this installation attributes live payments only."
    if (
        merchant.stripe_status == Merchant.StripeStatus.DISCONNECTED
        and event.type != "account.application.deauthorized"
    ):
        return StripeEvent.Status.IGNORED, "", "The merchant had disconnected Stripe."
    obj = (event.payload.get("data") or {}).get("object") or {}
    if handler not in MAY_WAIT:
        # Any error rolls back the whole transaction, claim included: no savepoint needed (two round trips saved).
        handler(merchant, obj, event)
        return StripeEvent.Status.PROCESSED, "", ""
    try:
        with transaction.atomic():  # a handler that parks the event leaves nothing half-written
            handler(merchant, obj, event)
    except WaitFor as wait:
        return StripeEvent.Status.WAITING, wait.key[:255], ""
    return StripeEvent.Status.PROCESSED, "", ""


def _record_failure(event_id: int, exc: BaseException) -> None:
    now = timezone.now()
    StripeEvent.objects.filter(pk=event_id).exclude(status=StripeEvent.Status.PROCESSED).update(
        status=StripeEvent.Status.FAILED,
        error=f"{type(exc).__name__}: {exc}"[:2000],
        traceback="".join(tb.format_exception(exc))[-10000:],
        last_attempt_at=now,
    )
    StripeEvent.objects.filter(pk=event_id, status=StripeEvent.Status.FAILED).update(attempts=F("attempts") + 1)


def requeue_stale_events(*, now: datetime | None = None, limit: int = 500) -> int:
    """Gets events processed that were stored but never reached, so none is lost to a broker outage, a killed
    worker or a drainer slot that is still held.

    Pending events older than a minute (and not swept in the last five): a drainer is asked for, as the webhook asks
    (a slot a killed worker held has expired by then; slots held by live drainers mean they are on it, and no more
    drainers than STRIPE_EVENT_DRAINERS run however long a backlog lasts). Failed events with attempts left whose
    back-off (a minute, doubling per attempt, at most an hour) has passed: a task each. Doing either twice is harmless:
    processing is idempotent. Returns how many events were concerned.
    """
    from .tasks import process_stripe_event_task

    now = now or timezone.now()
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
    ids = stale_ids + failed_ids
    if ids:
        StripeEvent.objects.filter(pk__in=ids).update(enqueued_at=now)
    if stale_ids:
        request_drain_on_commit()
    for pk in failed_ids:
        transaction.on_commit(lambda pk=pk: process_stripe_event_task.delay(pk))
    return len(ids)


def expire_waiting_events(*, now: datetime | None = None) -> int:
    """Events that waited WAIT_LIMIT for their link (most are invoices and refunds of customers nobody referred)
    are marked ignored, so waiting means "not arrived yet" on the health page. Idempotent."""
    now = now or timezone.now()
    return StripeEvent.objects.filter(status=StripeEvent.Status.WAITING, received_at__lt=now - WAIT_LIMIT).update(
        status=StripeEvent.Status.IGNORED,
        error=f"Nothing it depends on arrived within {WAIT_LIMIT.days} days: not a referred customer's payment.",
    )


# --- waiting and waking ---------------------------------------------------------------------------------------------


def lock_keys(merchant_id: int, *keys: str | None) -> None:
    """Transaction-scoped Postgres advisory locks on Stripe ids.

    Keys are taken sorted within a call, and handlers lock a customer before its payments, so two workers take them
    in the same order; a deadlock Postgres still detects is an OperationalError, retried like any transient error.

    Whoever checks for a related object and may park an event, and whoever writes such an object and wakes parked
    events, holds the lock of that object's id; so a wake-up can never slip between another worker's check and its
    park. SQLite serialises writers anyway, so there it does nothing.
    """
    if connection.vendor != "postgresql":
        return
    for key in sorted({k for k in keys if k}):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [merchant_id, _signed32(crc32(key.encode()))])


def _signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def wake_waiting(merchant_id: int, *keys: str | None) -> int:
    """Parked events waiting for one of `keys` go back to pending; a drainer is asked for once this transaction
    commits."""
    keys = sorted({k for k in keys if k})
    if not keys:
        return 0
    # One statement whether or not anything waits (the usual case): UPDATE ... RETURNING id (Postgres, SQLite 3.35+).
    qn = connection.ops.quote_name
    enqueued_at = StripeEvent._meta.get_field("enqueued_at").get_db_prep_save(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(StripeEvent._meta.db_table)} SET status = %s, enqueued_at = %s "
            f"WHERE merchant_id = %s AND status = %s AND waiting_for IN ({', '.join(['%s'] * len(keys))}) RETURNING id",
            [StripeEvent.Status.PENDING, enqueued_at, merchant_id, StripeEvent.Status.WAITING, *keys],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if ids:
        request_drain_on_commit()
    return len(ids)


def rerun_payment_events(merchant: Merchant, *, payment_intent: str = "", charge: str = "") -> int:
    """A commission was rewritten from scratch: its refunds and disputes, already processed, run again on commit
    (they are idempotent and read cumulative states, so running them again lands where the in-order run does)."""
    names = Q()
    if payment_intent:
        names |= Q(payload__data__object__payment_intent=payment_intent)
    if charge:
        names |= Q(payload__data__object__charge=charge) | Q(type="charge.refunded", payload__data__object__id=charge)
    if not names:
        return 0
    ids = list(
        StripeEvent.objects.for_merchant(merchant)
        .filter(names, status=StripeEvent.Status.PROCESSED, type__in=PAYMENT_FOLLOW_UPS)
        .values_list("pk", flat=True)
    )
    if ids:
        StripeEvent.objects.filter(pk__in=ids).update(status=StripeEvent.Status.PENDING, enqueued_at=timezone.now())
        request_drain_on_commit()
    return len(ids)


PAYMENT_FOLLOW_UPS = ("charge.refunded", "charge.dispute.created", "charge.dispute.closed")


# --- reading Stripe objects -----------------------------------------------------------------------------------------


def _id(value) -> str:
    """An id field that may be a plain id or an expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _timestamp(value, default: datetime | None = None) -> datetime:
    if isinstance(value, int) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return default or timezone.now()


def _event_time(event: StripeEvent) -> datetime:
    return event.stripe_created_at or event.received_at or timezone.now()


def _reference(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("_afficoneRef") or "").strip()


def invoice_subscription(invoice: dict) -> str:
    """Both shapes: `parent.subscription_details.subscription` (2025-03-31 and later) and top-level `subscription`."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def invoice_tax(invoice: dict) -> int:
    """Tax on an invoice: `total_taxes` (2025-03-31 and later), else `total_tax_amounts` or `tax` (older versions)."""
    # Inclusive taxes are inside `amount_paid` too, so every tax amount comes off.
    for field in ("total_taxes", "total_tax_amounts"):
        items = invoice.get(field)
        if items:
            return sum(int(item.get("amount") or 0) for item in items)
    return int(invoice.get("tax") or 0)


def checkout_amount_excluding_tax(session: dict) -> int:
    """What the customer paid, minus tax (discounts already applied, shipping kept)."""
    tax = int(((session.get("total_details") or {}).get("amount_tax")) or 0)
    return int(session.get("amount_total") or 0) - tax


# --- links ----------------------------------------------------------------------------------------------------------


def link_customer(
    referral: Referral,
    *,
    customer_id: str,
    email: str = "",
    subscription_id: str = "",
    window_start: datetime | None = None,
) -> Referral:
    """Links a Stripe customer to the referral that brought them; the first link wins.

    Idempotency key: (merchant, stripe_customer_id), unique among referrals. If the customer is already linked, that
    referral is returned (its missing subscription id or email filled in). If `referral` already belongs to another
    customer (one visitor, two Stripe customers), a new referral of the same affiliate takes this one. `window_start`
    opens the recurring-commission window (a subscription paid at checkout starts it there). Wakes events waiting for
    the customer.
    """
    merchant_id = referral.merchant_id
    lock_keys(merchant_id, customer_id)
    existing = Referral.objects.filter(merchant_id=merchant_id, stripe_customer_id=customer_id).first()
    if existing is not None:
        fill = {}
        if subscription_id and not existing.stripe_subscription_id:
            fill["stripe_subscription_id"] = subscription_id
        if email and not existing.customer_email:
            fill["customer_email"] = email[:254]
        if fill:
            Referral.objects.filter(pk=existing.pk).update(**fill)
            existing.refresh_from_db()
        return existing
    fields = dict(
        stripe_customer_id=customer_id,
        customer_email=(email or "")[:254],
        stripe_subscription_id=subscription_id or "",
    )
    claimed = Referral.objects.filter(pk=referral.pk, stripe_customer_id__isnull=True).update(
        **fields, converted_at=referral.converted_at or timezone.now()
    )
    if claimed:
        linked = Referral.objects.get(pk=referral.pk)
    else:
        linked = create_referral(referral.affiliate, converted_at=timezone.now(), **fields)
    if window_start is not None:
        Referral.objects.filter(pk=linked.pk, first_payment_at__isnull=True).update(first_payment_at=window_start)
        linked.refresh_from_db()
    wake_waiting(merchant_id, customer_id)
    return linked


def _find_commission(
    merchant: Merchant, *, payment_intent: str = "", charge: str = "", invoice: str = ""
) -> Commission | None:
    condition = Q()
    if payment_intent:
        condition |= Q(stripe_payment_intent_id=payment_intent) | Q(source_id=payment_intent)
    if charge:
        condition |= Q(stripe_charge_id=charge) | Q(source_id=charge)
    if invoice:
        condition |= Q(source_id=invoice)
    if not condition:
        return None
    return Commission.objects.for_merchant(merchant).filter(condition).order_by("pk").first()


def _record(merchant: Merchant, referral: Referral, **kwargs) -> Commission | None:
    """record_commission, then wake the refunds and disputes waiting for this payment."""
    keys = (kwargs.get("source_id"), kwargs.get("stripe_payment_intent_id"), kwargs.get("stripe_charge_id"))
    lock_keys(merchant.pk, *keys)
    commission, _ = record_commission(referral, **kwargs)
    if commission is not None:
        link_commission_payment(
            commission,
            payment_intent=kwargs.get("stripe_payment_intent_id", ""),
            charge=kwargs.get("stripe_charge_id", ""),
        )
    wake_waiting(merchant.pk, *keys)
    return commission


def link_commission_payment(commission: Commission, *, payment_intent: str = "", charge: str = "") -> Commission:
    """Fills in the PaymentIntent and charge a commission's refunds and disputes will name, where still unknown."""
    fill = {}
    if payment_intent and not commission.stripe_payment_intent_id:
        fill["stripe_payment_intent_id"] = payment_intent
    if charge and not commission.stripe_charge_id:
        fill["stripe_charge_id"] = charge
    if fill:
        Commission.objects.filter(pk=commission.pk).update(**fill)
        commission.refresh_from_db()
    return commission


# --- handlers -------------------------------------------------------------------------------------------------------
# Each takes (merchant, the event's data.object, the stored event). Returning means processed; WaitFor parks it.


def handle_checkout_session(merchant: Merchant, session: dict, event: StripeEvent) -> None:
    """checkout.session.completed and checkout.session.async_payment_succeeded.

    Payment mode earns a commission on the PaymentIntent (so payment_intent.succeeded for the same payment adds
    nothing), once paid; an unpaid session (delayed payment methods) waits for async_payment_succeeded, which carries
    the same session, paid. Subscription mode links the customer and subscription and leaves the money to invoices.
    """
    reference = str(session.get("client_reference_id") or "").strip() or _reference(session)
    if not reference:
        return
    mode = session.get("mode") or "payment"
    paid = session.get("payment_status") == "paid"
    if mode == "payment" and not paid:
        return
    referral = resolve_reference(merchant, reference)
    if referral is None:
        return
    email = (session.get("customer_details") or {}).get("email") or session.get("customer_email") or ""
    customer_id = _id(session.get("customer"))
    if customer_id:
        # A subscription paid at checkout opens its recurring window there; a trial's opens at its first payment.
        window = _timestamp(session.get("created")) if mode == "subscription" and paid else None
        link_customer(
            referral,
            customer_id=customer_id,
            email=email,
            subscription_id=_id(session.get("subscription")),
            window_start=window,
        )
    if mode != "payment" or not paid:
        return
    payment_intent = _id(session.get("payment_intent"))
    base_amount = checkout_amount_excluding_tax(session)
    currency = session.get("currency") or "usd"
    lines = checkout_lines(merchant, session, program=referral.affiliate.program)
    commission = _record(
        merchant,
        referral,
        source_type=Commission.SourceType.PAYMENT_INTENT if payment_intent else Commission.SourceType.CHECKOUT_SESSION,
        source_id=payment_intent or _id(session),
        base_amount=base_amount,
        currency=currency,
        paid_at=_event_time(event),
        customer_email=email,
        stripe_payment_intent_id=payment_intent,
        lines=lines,
    )
    if commission is not None and (
        commission.base_amount != base_amount or _names_affiliate(commission, email) or (lines and not commission.lines)
    ):
        # payment_intent.succeeded (with our metadata) may have come first, without the tax, email and line items
        # Checkout knows.
        commission, changed = reprice_commission(
            commission, base_amount=base_amount, customer_email=email, lines=lines, currency=currency
        )
        if changed:
            rerun_payment_events(
                merchant, payment_intent=commission.stripe_payment_intent_id, charge=commission.stripe_charge_id
            )


def _names_affiliate(commission: Commission, email: str) -> bool:
    return not commission.is_self_referral and commission.affiliate.is_self_referral(email)


def handle_payment_intent_succeeded(merchant: Merchant, intent: dict, event: StripeEvent) -> None:
    """A PaymentIntent the merchant created with `metadata._afficoneRef` (PaymentIntents without it are not ours:
    Checkout's and invoices' own PaymentIntents are attributed through their sessions and invoices)."""
    reference = _reference(intent)
    if not reference:
        return
    referral = resolve_reference(merchant, reference)
    if referral is None:
        return
    email = intent.get("receipt_email") or ""
    customer_id = _id(intent.get("customer"))
    if customer_id:
        link_customer(referral, customer_id=customer_id, email=email)
    _record(
        merchant,
        referral,
        source_type=Commission.SourceType.PAYMENT_INTENT,
        source_id=_id(intent),
        base_amount=int(intent.get("amount_received") or intent.get("amount") or 0),
        currency=intent.get("currency") or "usd",
        paid_at=_event_time(event),
        customer_email=email or referral.customer_email,
        stripe_payment_intent_id=_id(intent),
        stripe_charge_id=_id(intent.get("latest_charge")),
    )


def handle_customer(merchant: Merchant, customer: dict, event: StripeEvent) -> None:
    """customer.created / customer.updated with `metadata._afficoneRef` (free trials): link it; the first link wins."""
    reference = _reference(customer)
    if not reference:
        return
    referral = resolve_reference(merchant, reference)
    if referral is None:
        return
    link_customer(referral, customer_id=_id(customer), email=customer.get("email") or "")


def handle_invoice_paid(merchant: Merchant, invoice: dict, event: StripeEvent) -> None:
    """invoice.paid and invoice.payment_succeeded: one commission per invoice (source = the invoice id).

    $0 invoices (trials) earn nothing. Waits for the customer's link when it has not arrived yet. The first invoice of
    a subscription is not recurring; later ones are, within the program's recurring limit.
    """
    amount_paid = int(invoice.get("amount_paid") or 0)
    if amount_paid <= 0:
        return
    if not invoice_subscription(invoice):
        # A one-off invoice, e.g. the one Checkout issues after a payment when "create an invoice" is on: that payment
        # is attributed through its Checkout Session or PaymentIntent. Invoices earn as subscription payments only.
        return
    customer_id = _id(invoice.get("customer"))
    if not customer_id:
        return
    lock_keys(merchant.pk, customer_id)
    referral = referral_with_program(merchant.pk, stripe_customer_id=customer_id)
    if referral is None:
        raise WaitFor(customer_id)
    invoice_id = _id(invoice)
    _record(
        merchant,
        referral,
        source_type=Commission.SourceType.INVOICE,
        source_id=invoice_id,
        base_amount=amount_paid - invoice_tax(invoice),
        currency=invoice.get("currency") or "usd",
        paid_at=_timestamp((invoice.get("status_transitions") or {}).get("paid_at"), _event_time(event)),
        customer_email=invoice.get("customer_email") or referral.customer_email,
        is_recurring=invoice.get("billing_reason") != "subscription_create",
        stripe_invoice_id=invoice_id,
        lines=invoice_lines(invoice),
        # Older API versions name the payment on the invoice; newer ones in invoice_payment objects (below).
        stripe_payment_intent_id=_id(invoice.get("payment_intent")),
        stripe_charge_id=_id(invoice.get("charge")),
    )


def handle_invoice_payment_paid(merchant: Merchant, invoice_payment: dict, event: StripeEvent) -> None:
    """invoice_payment.paid (API 2025-03-31 and later): tells which PaymentIntent paid an invoice, so the invoice's
    commission can be found by later refunds and disputes, which only name the charge and PaymentIntent."""
    invoice_id = _id(invoice_payment.get("invoice"))
    payment = invoice_payment.get("payment") or {}
    payment_intent, charge = _id(payment.get("payment_intent")), _id(payment.get("charge"))
    if not invoice_id or not (payment_intent or charge):
        return
    lock_keys(merchant.pk, invoice_id, payment_intent, charge)
    commission = Commission.objects.for_merchant(merchant).filter(source_id=invoice_id).first()
    if commission is None:
        raise WaitFor(invoice_id)
    link_commission_payment(commission, payment_intent=payment_intent, charge=charge)
    wake_waiting(merchant.pk, payment_intent, charge)


def _commission_for_charge(merchant: Merchant, *, charge: str, payment_intent: str, invoice: str = "") -> Commission:
    lock_keys(merchant.pk, charge, payment_intent, invoice)
    commission = _find_commission(merchant, payment_intent=payment_intent, charge=charge, invoice=invoice)
    if commission is None:
        raise WaitFor(invoice or payment_intent or charge)  # the id the commission will be written under
    return commission


def invoice_paid_by(merchant: Merchant, payment_intent: str) -> str:
    """Asks Stripe which invoice `payment_intent` paid ("" if none): on API versions 2025-03-31 and later neither
    the invoice nor the charge names the other, and invoice_payment.paid may not be among the endpoint's events."""
    from .client import stripe_client

    payments = stripe_client().v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": payment_intent}, "limit": 1},
        options={"stripe_account": merchant.stripe_account_id},
    )
    return next((_id(payment.to_dict().get("invoice")) for payment in payments.data), "")


def handle_charge_refunded(merchant: Merchant, charge: dict, event: StripeEvent) -> None:
    """Reverses the commission in proportion to the charge's cumulative `amount_refunded` (so refund events in any
    order, or repeated, end at the same reversal). The charge's amount includes tax, the commission's base does not,
    so the refunded share is taken of the charge and applied to the base.

    A refund of a referred customer's payment that matches no commission asks Stripe which invoice its PaymentIntent
    paid (one API call, only for referred customers) rather than waiting for invoice_payment.paid.
    """
    charge_id, payment_intent, invoice = _id(charge), _id(charge.get("payment_intent")), _id(charge.get("invoice"))
    customer_id = _id(charge.get("customer"))
    if (
        payment_intent
        and not invoice
        and customer_id
        and _find_commission(merchant, payment_intent=payment_intent, charge=charge_id) is None
        and Referral.objects.for_merchant(merchant).filter(stripe_customer_id=customer_id).exists()
    ):
        invoice = invoice_paid_by(merchant, payment_intent)
    commission = _commission_for_charge(merchant, charge=charge_id, payment_intent=payment_intent, invoice=invoice)
    if invoice and commission.source_id == invoice:
        link_commission_payment(commission, payment_intent=payment_intent, charge=charge_id)
    charge_amount = int(charge.get("amount") or 0)
    refunded = int(charge.get("amount_refunded") or 0)
    if charge_amount <= 0 or refunded <= 0:
        return
    refunded_of_base = (
        commission.base_amount
        if refunded >= charge_amount
        else money.proportion(commission.base_amount, refunded, charge_amount)
    )
    apply_refund(commission, refunded_amount=refunded_of_base)


def _dispute_closed_already(merchant: Merchant, dispute_id: str) -> bool:
    return (
        StripeEvent.objects.for_merchant(merchant)
        .filter(type="charge.dispute.closed", status=StripeEvent.Status.PROCESSED, payload__data__object__id=dispute_id)
        .exists()
    )


def handle_dispute_created(merchant: Merchant, dispute: dict, event: StripeEvent) -> None:
    """Holds the commission while the dispute is open (unless its closing has already been processed)."""
    lock_keys(merchant.pk, _id(dispute))
    commission = _commission_for_charge(
        merchant, charge=_id(dispute.get("charge")), payment_intent=_id(dispute.get("payment_intent"))
    )
    if _dispute_closed_already(merchant, _id(dispute)):
        return
    hold_commission(commission)


def handle_dispute_closed(merchant: Merchant, dispute: dict, event: StripeEvent) -> None:
    """Lost: the commission is reversed in full. Won (or a closed inquiry): released."""
    lock_keys(merchant.pk, _id(dispute))
    commission = _commission_for_charge(
        merchant, charge=_id(dispute.get("charge")), payment_intent=_id(dispute.get("payment_intent"))
    )
    settle_dispute(commission, won=dispute.get("status") != "lost")


def handle_subscription_deleted(merchant: Merchant, subscription: dict, event: StripeEvent) -> None:
    """No recurring commission for invoices paid after the subscription ended."""
    customer_id = _id(subscription.get("customer"))
    if not customer_id:
        return
    lock_keys(merchant.pk, customer_id)
    referral = Referral.objects.for_merchant(merchant).filter(stripe_customer_id=customer_id).first()
    if referral is None:
        raise WaitFor(customer_id)
    if referral.stripe_subscription_id and referral.stripe_subscription_id != _id(subscription):
        return  # another subscription of the same customer ended; the referred one goes on
    ended_at = _timestamp(subscription.get("ended_at") or subscription.get("canceled_at"), _event_time(event))
    end_referral_subscription(referral, ended_at=ended_at)


def end_referral_subscription(referral: Referral, *, ended_at: datetime) -> Referral:
    """Idempotent: the earliest end wins."""
    Referral.objects.filter(pk=referral.pk).filter(
        Q(subscription_ended_at__isnull=True) | Q(subscription_ended_at__gt=ended_at)
    ).update(subscription_ended_at=ended_at)
    referral.refresh_from_db()
    return referral


def handle_deauthorized(merchant: Merchant, application: dict, event: StripeEvent) -> None:
    """The merchant disconnected Afficone in Stripe: later events are stored but not attributed."""
    from .connect import mark_stripe_disconnected

    mark_stripe_disconnected(merchant, occurred_at=_event_time(event))


HANDLERS: dict[str, Callable[[Merchant, dict, StripeEvent], None]] = {
    "checkout.session.completed": handle_checkout_session,
    "checkout.session.async_payment_succeeded": handle_checkout_session,
    "payment_intent.succeeded": handle_payment_intent_succeeded,
    "customer.created": handle_customer,
    "customer.updated": handle_customer,
    "invoice.paid": handle_invoice_paid,
    "invoice.payment_succeeded": handle_invoice_paid,
    "invoice_payment.paid": handle_invoice_payment_paid,
    "charge.refunded": handle_charge_refunded,
    "charge.dispute.created": handle_dispute_created,
    "charge.dispute.closed": handle_dispute_closed,
    "customer.subscription.deleted": handle_subscription_deleted,
    "account.application.deauthorized": handle_deauthorized,
}

# The handlers that may park their event (raise WaitFor): they run in a savepoint, so parking leaves nothing written.
MAY_WAIT = frozenset(
    {
        handle_invoice_paid,
        handle_invoice_payment_paid,
        handle_charge_refunded,
        handle_dispute_created,
        handle_dispute_closed,
        handle_subscription_deleted,
    }
)

# The event types the platform's Connect webhook endpoint must be subscribed to (shown on the settings page).
# invoice_payment.paid matters on API versions 2025-03-31 and later: it is how a refund or dispute of a subscription
# payment finds the invoice's commission, since those invoices no longer name their PaymentIntent.
WEBHOOK_EVENT_TYPES: tuple[str, ...] = tuple(HANDLERS)
