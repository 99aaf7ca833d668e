"""Sending deliveries: claiming one, one attempt, and the retry schedule.

A delivery is attempted when due (`next_attempt_at`). Anything but a 2xx is
retried after RETRY_DELAYS (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every
10 h) for RETRY_WINDOW (three days from the event); the attempt that would
fall later is not made and the delivery is marked failed. Every attempt is
logged with its answer (WebhookAttempt).

Idempotency key: the delivery row. A worker claims it in a short transaction
(`SELECT ... FOR UPDATE SKIP LOCKED`, only while pending and due and not held
by another attempt) and holds it with a lease (`locked_until`) while it
sends, outside any transaction: concurrent workers and redelivered tasks
find nothing to claim, and a delivery succeeds at most once (it leaves
`pending` with its first 2xx). A worker that dies mid-attempt leaves the
lease to expire; the sweep (`due_deliveries`, run by beat) then sends the
delivery again, so nothing is lost.

Order per object: deliveries to one endpoint about the same object (a
commission created, then approved) are sent in the order they were made. A
delivery is not claimable while an earlier one to its endpoint about the same
object is pending (being attempted, or waiting for its retry); once that one
leaves pending (delivered, or failed for good) its task sends the next
(`next_in_order`), or the sweep does. Deliveries about other objects never wait.
"""

from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .email_tasks import notify_endpoint_disabled_task
from .models import TEST_EVENT_TYPE, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .sending import Answer, post, signed_headers
from .subscriptions import forget_subscriptions

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
RETRY_WINDOW = timedelta(days=3)
# Longer than an attempt can take (the task's hard time limit, CELERY_TASK_TIME_LIMIT, is 5 minutes): a lease
# expires only when its worker is gone.
LEASE = timedelta(minutes=6)
# The sweep sends what has been due this long: a delivery's own task normally takes it first.
SWEEP_GRACE = timedelta(seconds=30)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th attempt failed."""
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


def _claimable(now: datetime):
    """Pending, due, held by nobody, and not behind an earlier delivery about the same object that is pending."""
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        object_id=OuterRef("object_id"),
        status=WebhookDelivery.Status.PENDING,
        pk__lt=OuterRef("pk"),
    )
    return (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until=None) | Q(locked_until__lte=now))
        .filter(Q(object_id="") | ~Exists(earlier))
    )


def next_in_order(delivery: WebhookDelivery) -> int | None:
    """After `delivery` left pending: the next delivery to its endpoint about the same object, if it is due now
    (it waited for this one). Its task sends it; the sweep would, a little later."""
    if not delivery.object_id:
        return None
    following = (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            object_id=delivery.object_id,
            status=WebhookDelivery.Status.PENDING,
            pk__gt=delivery.pk,
        )
        .order_by("pk")
        .values_list("pk", "next_attempt_at")
        .first()
    )
    if following is None or following[1] is None or following[1] > timezone.now():
        return None
    return following[0]


def claim_delivery(delivery_id: int, *, now: datetime) -> WebhookDelivery | None:
    """The delivery, leased to this worker until LEASE from now; None if it is not due or someone has it."""
    with transaction.atomic():
        claimed = (
            _claimable(now)
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk=delivery_id)
            .values_list("pk", flat=True)
            .first()
        )
        if claimed is None:
            return None
        WebhookDelivery.objects.filter(pk=claimed).update(locked_until=now + LEASE)
    # None if its endpoint was deleted meanwhile (the delivery went with it).
    return WebhookDelivery.objects.select_related("event", "endpoint").filter(pk=claimed).first()


def signing_secrets(endpoint, *, now: datetime) -> list[str]:
    secrets = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def attempt_delivery(delivery_id: int) -> WebhookAttempt | None:
    """One attempt of a due delivery, logged; None when there was nothing to do (not due, or claimed elsewhere)."""
    now = timezone.now()
    delivery = claim_delivery(delivery_id, now=now)
    if delivery is None:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    # A test event is sent to a disabled endpoint too: it is how a merchant checks one before enabling it again.
    if not endpoint.is_enabled and event.type != TEST_EVENT_TYPE:
        answer = Answer(None, "", 0, "Not sent: the endpoint is disabled.")
    else:
        headers = signed_headers(event.event_id, event.body, signing_secrets(endpoint, now=now), at=now)
        answer = post(endpoint.url, event.body, headers)
    return record_attempt(delivery, answer, attempted_at=now)


@transaction.atomic
def record_attempt(delivery: WebhookDelivery, answer: Answer, *, attempted_at: datetime) -> WebhookAttempt | None:
    """Logs the attempt and moves the delivery on: succeeded, due again, or failed. Gives the lease back.
    None if the delivery went meanwhile (its endpoint was deleted)."""
    number = delivery.attempts + 1
    next_attempt_at = None
    if answer.is_success:
        status = WebhookDelivery.Status.SUCCEEDED
    else:
        status = WebhookDelivery.Status.FAILED
        retry_at = attempted_at + retry_delay(number)
        retries = delivery.endpoint.is_enabled and delivery.event.type != TEST_EVENT_TYPE  # a test is sent once
        if retries and retry_at <= delivery.created_at + RETRY_WINDOW:
            status, next_attempt_at = WebhookDelivery.Status.PENDING, retry_at
    updated = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(
        status=status,
        attempts=number,
        next_attempt_at=next_attempt_at,
        locked_until=None,
        resend_requested_at=None,
        last_attempt_at=attempted_at,
        succeeded_at=attempted_at if status == WebhookDelivery.Status.SUCCEEDED else None,
    )
    if not updated:
        return None
    note_endpoint_health(delivery.endpoint, answer, at=attempted_at)
    return WebhookAttempt.objects.create(
        merchant_id=delivery.merchant_id,
        delivery=delivery,
        number=number,
        url=delivery.endpoint.url,
        attempted_at=attempted_at,
        response_status=answer.status,
        response_body=answer.body,
        duration_ms=answer.duration_ms,
        error=answer.error[:500],
        is_manual=delivery.resend_requested_at is not None,
        next_attempt_at=next_attempt_at,
    )


def note_endpoint_health(endpoint: WebhookEndpoint, answer: Answer, *, at: datetime) -> None:
    """Keeps `failing_since` (the first failure since the last success) and disables an endpoint whose attempts
    have all failed for WEBHOOK_DISABLE_AFTER_DAYS, saying why, with an email to the merchant's owners.

    Runs in the attempt's transaction, on the endpoint as the claim read it: a success clears `failing_since` without
    a query when it was already clear, so a healthy endpoint pays nothing. The disabling is decided by the row as it
    is (`failing_since` old enough, still enabled): an endpoint is disabled, and its owners told, once.
    """
    if not endpoint.is_enabled:
        return  # an attempt refused for the disabled endpoint says nothing of its health
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if answer.is_success:
        if endpoint.failing_since is not None:
            endpoints.exclude(failing_since=None).update(failing_since=None)
        return
    if endpoint.failing_since is None:
        endpoints.filter(failing_since=None).update(failing_since=at)
        return
    disabled = endpoints.filter(status=WebhookEndpoint.Status.ENABLED, failing_since__lte=at - disable_after()).update(
        status=WebhookEndpoint.Status.DISABLED,
        disabled_reason=disabled_reason(endpoint.failing_since, answer),
        updated_at=at,
    )
    if disabled:
        forget_subscriptions(endpoint.merchant_id)
        transaction.on_commit(partial(notify_endpoint_disabled_task.delay, endpoint.pk), robust=True)


def disable_after() -> timedelta:
    return timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)


def disabled_reason(failing_since: datetime, answer: Answer) -> str:
    last = f"HTTP {answer.status}" if answer.status is not None else answer.error.rstrip(".")
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    since = failing_since.astimezone(UTC).strftime("%b %-d, %Y %H:%M UTC")
    return (
        f"Disabled automatically after {days} days of failures: every attempt since {since} failed "
        f"(the last: {last[:300]})."
    )


def due_deliveries(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Deliveries due for over SWEEP_GRACE that nobody holds: their task was lost (broker down, worker killed), or
    their retry is too far off to have been enqueued with a countdown."""
    now = now or timezone.now()
    due = _claimable(now).filter(next_attempt_at__lte=now - SWEEP_GRACE).order_by("next_attempt_at")
    return list(due.values_list("pk", flat=True)[:limit])
