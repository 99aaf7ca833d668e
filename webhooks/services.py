"""Every write to webhook endpoints, and resending a delivery."""

from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenants.models import Merchant

from .addresses import UnsafeAddress, check_url
from .events import write_test_event
from .models import EventType, WebhookDelivery, WebhookEndpoint, new_secret
from .subscriptions import forget_subscriptions
from .tasks import deliver_webhook_task

# After a rotation, the old secret keeps signing alongside the new one this long.
PREVIOUS_SECRET_DAYS = 1
# A bulk resend enqueues this many tasks at once; the rest are due at once and the sweep (500 every 30 s) sends them.
RESEND_ENQUEUED = 500


class WebhookError(ValueError):
    """A change refused; the message is for people, `field` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.field = field
        self.code = code


def clean_url(url: str) -> str:
    try:
        return check_url(url)
    except UnsafeAddress as exc:
        raise WebhookError(str(exc), field="url") from None


def clean_events(events: Iterable[str]) -> list[str]:
    """Known event types, each once, in the documented order; at least one."""
    chosen = set(events)
    unknown = sorted(chosen - set(EventType.values))
    if unknown:
        raise WebhookError(f"Unknown event type: {unknown[0]}.", field="events")
    if not chosen:
        raise WebhookError("Choose at least one event type.", field="events")
    return [value for value in EventType.values if value in chosen]


def create_endpoint(
    merchant: Merchant, *, url: str, events: Iterable[str], status: str = WebhookEndpoint.Status.ENABLED
) -> WebhookEndpoint:
    """A new endpoint with a fresh `whsec_` secret (on the returned instance: show it once)."""
    if status not in WebhookEndpoint.Status.values:
        raise WebhookError("Unknown status.", field="status")
    return WebhookEndpoint.objects.create(
        merchant=merchant, url=clean_url(url), events=clean_events(events), status=status
    )


@transaction.atomic
def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    url: str | None = None,
    events: Iterable[str] | None = None,
    status: str | None = None,
) -> WebhookEndpoint:
    """Changes what is given. Deliveries not yet sent go to the new URL; a disabled endpoint is sent nothing.
    Enabling it clears why it was disabled and its failures so far: it has WEBHOOK_DISABLE_AFTER_DAYS again."""
    updates: dict = {"updated_at": timezone.now()}
    if url is not None:
        updates["url"] = clean_url(url)
    if events is not None:
        updates["events"] = clean_events(events)
    if status is not None:
        if status not in WebhookEndpoint.Status.values:
            raise WebhookError("Unknown status.", field="status")
        updates["status"] = status
        if status == WebhookEndpoint.Status.ENABLED:
            updates.update(disabled_reason="", failing_since=None)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**updates)
    forget_subscriptions(endpoint.merchant_id)  # update() sends no post_save (webhooks/receivers.py)
    endpoint.refresh_from_db()
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries go; the events stay (other endpoints may have them)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()


def rotate_secret(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret. The old one signs alongside it (a second `v1,` signature) for PREVIOUS_SECRET_DAYS, so the
    merchant's receiver can switch over without dropping a delivery."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret=endpoint.secret,
        previous_secret_expires_at=timezone.now() + timedelta(days=PREVIOUS_SECRET_DAYS),
        secret=new_secret(),
        updated_at=timezone.now(),
    )
    endpoint.refresh_from_db()
    return endpoint


@transaction.atomic
def resend_delivery(delivery: WebhookDelivery) -> WebhookDelivery:
    """Sends a delivery that has not succeeded again, now (a delivery succeeds at most once).

    A failed one gets this one attempt (and the retries left in its window, if any); a pending one is sent now
    instead of at its next retry. Refused while an attempt is in progress or the endpoint is disabled.
    """
    if not delivery.can_resend:
        raise WebhookError("This delivery has already succeeded.", code="conflict")
    if not delivery.endpoint.is_enabled:
        raise WebhookError("Enable the endpoint first: a disabled endpoint is sent nothing.", code="conflict")
    now = timezone.now()
    resent = (
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]
        )
        .filter(Q(locked_until=None) | Q(locked_until__lte=now))
        .update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now, resend_requested_at=now)
    )
    if not resent:
        raise WebhookError("It is being sent right now; look again in a moment.", code="conflict")
    transaction.on_commit(lambda: deliver_webhook_task.delay(delivery.pk), robust=True)
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def resend_deliveries(endpoint: WebhookEndpoint, *, deliveries: Iterable[WebhookDelivery] | None = None) -> int:
    """Every failed delivery of the endpoint, or those of `deliveries` that are its and have not succeeded, sent
    again now, oldest first; how many were. Each gets one manual attempt and the retries left in its window, as with
    `resend_delivery`. Deliveries being attempted right now are left to that attempt. Refused while the endpoint is
    disabled.

    Idempotency: only failed or pending deliveries are taken, and a delivery succeeds at most once, so resending
    twice sends nothing that already arrived.
    """
    if not endpoint.is_enabled:
        raise WebhookError("Enable the endpoint first: a disabled endpoint is sent nothing.", code="conflict")
    now = timezone.now()
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).filter(Q(locked_until=None) | Q(locked_until__lte=now))
    if deliveries is None:
        rows = rows.filter(status=WebhookDelivery.Status.FAILED)
    else:
        rows = rows.filter(
            pk__in=[delivery.pk for delivery in deliveries],
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
        )
    resent = rows.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now, resend_requested_at=now)
    first = WebhookDelivery.objects.filter(endpoint=endpoint, resend_requested_at=now).order_by("pk")
    for delivery_id in first.values_list("pk", flat=True)[:RESEND_ENQUEUED]:
        transaction.on_commit(partial(deliver_webhook_task.delay, delivery_id), robust=True)
    return resent


def send_test_event(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Sends the endpoint a signed `webhook.test` event now, through the delivery path and its log: its object is the
    endpoint as the API shows it. Sent whether the endpoint is enabled or not, whatever it is subscribed to, and
    once: a test that fails is not retried (press the button again)."""
    return write_test_event(endpoint)
