from typing import Any

import stripe
from celery import shared_task
from celery.signals import worker_ready

from . import drainers, reconciliation, services
from .models import CustomerBackfill


@shared_task(name=drainers.DRAIN_TASK, acks_late=True)
def drain_stripe_events_task(slot: int | None = None, token: int | None = None) -> int:
    """Processes pending events until none is left (stripe_integration/drainers.py); `slot` and `token` are the
    drainer slot the asker took for it and its token (stripe_integration/slots.py; no slot: started by hand; no
    token: queued by an earlier version). Idempotent: every event is claimed under a row lock while pending, so a
    redelivered or concurrent drainer finds only what is left."""
    return drainers.drain(slot, token)


@shared_task(name=drainers.ASK_TASK)
def ask_for_drainer_task() -> bool:
    """Asks for a drainer if events are pending that no drainer holds (drainers.take_over). Idempotent: asking when
    a drainer runs, or twice, starts none or one that finds nothing."""
    return drainers.request_drain_if_pending()


@worker_ready.connect
def take_over_drainers(**kwargs: Any) -> None:
    """A worker that starts takes over what drainers killed with an earlier worker left pending (drainers.take_over):
    within seconds, rather than at the next periodic sweep."""
    drainers.take_over()


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


@shared_task(name=reconciliation.SYNC_TASK, bind=True, acks_late=True)
def sync_stripe_events_task(self, sync_id: int) -> None:
    """Works on one reconciliation run (stripe_integration/reconciliation.py) for a time budget, then hands over to
    a fresh task (run eagerly, it goes to the end at once). Idempotency key: the StripeSync row, held under a lease
    while queued or running; stored events are unique by Stripe's event id, so a redelivery stores nothing twice."""
    budget = None if self.request.is_eager else reconciliation.TASK_BUDGET_SECONDS
    reconciliation.run_stripe_sync(sync_id, budget_seconds=budget)


@shared_task(name="stripe_integration.tasks.sync_connected_merchants_task")
def sync_connected_merchants_task() -> int:
    """The nightly reconciliation: queues a run per connected merchant. Idempotent: a merchant whose run is still
    queued or running gets no second one."""
    return reconciliation.sync_connected_merchants()


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


@shared_task(
    name="stripe_integration.tasks.match_lead_task",
    acks_late=True,
    autoretry_for=(stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def match_lead_task(lead_id: int) -> None:
    """A new lead against the customers Stripe already has with its address (services.match_lead). Idempotency key:
    the customer's binding, unique per (merchant, customer), and the lead's `bound_at`: a rerun binds nothing new.
    Binding wakes the customer's parked invoices: a drainer is asked for."""
    if services.match_lead(lead_id) is not None:
        drainers.request_drain_on_commit()
