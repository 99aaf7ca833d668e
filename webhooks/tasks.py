"""Celery tasks of webhooks/: wrappers around webhooks/delivery.py."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .delivery import attempt_delivery, due_deliveries, next_in_order

# Retries due within this are enqueued with a countdown; later ones are left to the sweep (a countdown task waits in
# a worker's memory, and Redis hands tasks unacknowledged for an hour to another worker).
COUNTDOWN_LIMIT = timedelta(minutes=10)


@shared_task(bind=True, acks_late=True)
def deliver_webhook_task(self, delivery_id: int) -> None:
    """One attempt of a due delivery. Idempotency key: the delivery, claimed under a lease; a duplicate or a
    redelivered task finds nothing due and does nothing. Once it leaves pending, the next delivery about the same
    object, which waited for it, is sent."""
    attempt = attempt_delivery(delivery_id)
    if attempt is None or self.request.is_eager:
        # Eager (the embedded default): no worker to wait in, the sweep retries and sends what waited; a task run
        # inside this one would nest a whole series of deliveries about one object.
        return
    if attempt.next_attempt_at is None:
        following = next_in_order(attempt.delivery)
        if following is not None:
            deliver_webhook_task.delay(following)
        return
    wait = (attempt.next_attempt_at - timezone.now()).total_seconds()
    if wait <= COUNTDOWN_LIMIT.total_seconds():
        # A moment after it is due: a task run early would find the delivery not yet due and leave it to the sweep.
        deliver_webhook_task.apply_async((delivery_id,), countdown=max(wait, 0.0) + 0.25)


@shared_task
def sweep_webhook_deliveries_task() -> int:
    """Beat: sends again what is due and held by nobody (a lost task, a dead worker, a retry hours away)."""
    due = due_deliveries()
    for delivery_id in due:
        deliver_webhook_task.delay(delivery_id)
    return len(due)
