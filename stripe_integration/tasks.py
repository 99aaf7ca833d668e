from celery import shared_task

from . import services


@shared_task(
    acks_late=True,
    autoretry_for=services.TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def process_stripe_event_task(stripe_event_id: int) -> None:
    """Idempotency key: the StripeEvent row, processed only while pending, waiting or failed (locked FOR UPDATE);
    commissions are unique per (merchant, source). acks_late is safe because a redelivery is a no-op."""
    services.process_event(stripe_event_id)


@shared_task
def requeue_stale_events_task() -> int:
    """Idempotent: re-enqueuing an event that is already queued costs one no-op run; expiring twice changes nothing."""
    services.expire_waiting_events()
    return services.requeue_stale_events()
