"""The email tasks of webhooks/, enqueued once the change they tell of commits.

They import models and emails only, so webhooks/delivery.py imports them at the top (webhooks/tasks.py, which runs
the delivery path, imports delivery.py).
"""

from celery import shared_task

from . import emails
from .models import WebhookEndpoint


@shared_task
def notify_endpoint_disabled_task(endpoint_id: int) -> None:
    """Tells the owners an endpoint was disabled for failing. Idempotency key: the disabling, which enqueues this
    once (webhooks/delivery.py); an endpoint enabled again or deleted by the time it runs is not written about."""
    endpoint = (
        WebhookEndpoint.objects.select_related("merchant")
        .filter(pk=endpoint_id, status=WebhookEndpoint.Status.DISABLED)
        .exclude(disabled_reason="")
        .first()
    )
    if endpoint is None:
        return
    emails.send_endpoint_disabled(endpoint)
