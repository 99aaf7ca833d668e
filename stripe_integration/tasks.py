import stripe
from celery import shared_task

from . import drainers, services
from .models import CustomerBackfill


@shared_task(name=drainers.DRAIN_TASK, acks_late=True)
def drain_stripe_events_task(slot: int | None = None) -> int:
    """Processes pending events until none is left (stripe_integration/drainers.py); `slot` is the drainer slot the
    asker took for it (None: started by hand, holding none). Idempotent: every event is claimed under a row lock
    while pending, so a redelivered or concurrent drainer finds only what is left."""
    return drainers.drain(slot)


@shared_task(
    name=drainers.PROCESS_TASK,
    acks_late=True,
    autoretry_for=services.TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def process_stripe_event_task(stripe_event_id: int) -> None:
    """One event, by id: the sweep's retry of a failed event. Idempotency key: the StripeEvent row, processed only
    while pending, waiting or failed (locked FOR UPDATE); commissions are unique per (merchant, source). acks_late is
    safe because a redelivery is a no-op."""
    drainers.retry_event(stripe_event_id)


@shared_task(name="stripe_integration.tasks.requeue_stale_events_task")
def requeue_stale_events_task() -> int:
    """Idempotent: starting a drainer or retrying an event twice costs one no-op run; expiring twice changes nothing."""
    services.expire_waiting_events()
    return drainers.requeue_stale_events()


@shared_task(
    acks_late=True,
    autoretry_for=(stripe.APIConnectionError, stripe.RateLimitError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def backfill_customer_task(backfill_id: int) -> None:
    """Credits a manually bound customer's past payments (services.backfill_customer). Idempotency key: each
    payment's commission, unique per (merchant, source id), so a redelivered or repeated run credits nothing new and
    recounts the same result. Then asks for a drainer: crediting a payment wakes the refunds that waited for it."""
    backfill = CustomerBackfill.objects.filter(pk=backfill_id).first()
    if backfill is None:
        return  # the referral, or its merchant, was deleted meanwhile
    services.backfill_customer(backfill)
    drainers.request_drain_on_commit()
