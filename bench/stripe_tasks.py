"""The baseline task for bench/stripe_worker.py: a Celery task that does nothing."""

from celery import shared_task


@shared_task(acks_late=True)
def noop_task(n: int) -> None:
    return None
