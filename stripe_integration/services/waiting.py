"""Waiting and waking: events parked until what they depend on arrives, and woken by whoever writes it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zlib import crc32

from django.db.models import Q
from django.utils import timezone

from afficone import rawsql
from tenants.models import Merchant

from ..models import StripeEvent
from . import sql

# How long an event waits for the customer link or commission it depends on; those normally follow within seconds.
WAIT_LIMIT = timedelta(days=7)


class WaitFor(Exception):
    """Raised by a handler that needs a related object another event will bring; `key` is that object's id."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def expire_waiting_events(*, now: datetime | None = None) -> int:
    """Events that waited WAIT_LIMIT for their link (most are invoices and refunds of customers nobody referred)
    are marked ignored, so waiting means "not arrived yet" on the health page. Idempotent."""
    now = now or timezone.now()
    return StripeEvent.objects.filter(status=StripeEvent.Status.WAITING, received_at__lt=now - WAIT_LIMIT).update(
        status=StripeEvent.Status.IGNORED,
        error=f"Nothing it depends on arrived within {WAIT_LIMIT.days} days: not a referred customer's payment.",
    )


def lock_keys(merchant_id: int, *keys: str | None) -> None:
    """Transaction-scoped Postgres advisory locks on Stripe ids.

    Keys are taken sorted within a call, and handlers lock a customer before its payments, so two workers take them
    in the same order; a deadlock Postgres still detects is an OperationalError, retried like any transient error.

    Whoever checks for a related object and may park an event, and whoever writes such an object and wakes parked
    events, holds the lock of that object's id; so a wake-up can never slip between another worker's check and its
    park. SQLite serialises writers anyway, so there it does nothing.
    """
    for key in sorted({k for k in keys if k}):
        rawsql.advisory_xact_lock(merchant_id, _signed32(crc32(key.encode())))


def _signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def wake_waiting(merchant_id: int, *keys: str | None) -> int:
    """Parked events waiting for one of `keys` go back to pending: the drainer running this takes them before it
    leaves (it takes every pending event), and a single event's retry asks for a drainer after it
    (drainers.retry_event)."""
    names = sorted({k for k in keys if k})
    if not names:
        return 0
    return sql.wake_events(merchant_id, names, now=timezone.now())


def rerun_payment_events(merchant: Merchant, *, payment_intent: str = "", charge: str = "") -> int:
    """A commission was rewritten from scratch: its refunds and disputes, already processed, go back to pending to run
    again, as woken events do (they are idempotent and read cumulative states, so running them again lands where
    the in-order run does)."""
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
    return len(ids)


PAYMENT_FOLLOW_UPS = ("charge.refunded", "charge.dispute.created", "charge.dispute.closed")
