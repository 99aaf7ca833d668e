"""Webhooks to the merchant's systems: endpoints, the events they are sent, and every attempt to send them.

An event (`WebhookEvent`) is written once, with its body rendered at the moment
it happened; each endpoint subscribed to its type gets a `WebhookDelivery`,
and every try to send it is a `WebhookAttempt` with the answer it got.
"""

import base64
import secrets
import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


class EventType(models.TextChoices):
    """What an endpoint can subscribe to (README, "Webhooks to your systems")."""

    AFFILIATE_CREATED = "affiliate.created", "An affiliate was created (dashboard, API, invitation or signup)"
    AFFILIATE_UPDATED = "affiliate.updated", "An affiliate's name, code, commission or status changed"
    REFERRAL_CREATED = "referral.created", "A visitor came through an affiliate's link, or a customer was attributed"
    LEAD_CREATED = "lead.created", "A referred visitor signed up"
    COMMISSION_CREATED = "commission.created", "A payment earned a commission"
    COMMISSION_UPDATED = "commission.updated", "A commission was approved, refunded, disputed, voided, paid out"
    PAYOUT_CREATED = "payout.created", "A payout was created in a batch"
    PAYOUT_PAID = "payout.paid", "A payout was marked paid"


# Sent by "Send test event" to one endpoint, whatever it is subscribed to; not a type endpoints can subscribe to.
TEST_EVENT_TYPE = "webhook.test"


class WebhookEndpoint(models.Model):
    """A URL of the merchant's where events of the chosen types are POSTed, signed with `secret`."""

    class Status(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="The event types sent to this endpoint.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ENABLED)
    secret = models.CharField(max_length=100, default=new_secret)
    # After a rotation the old secret signs alongside the new one for a while, so the merchant can switch over.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The first failed attempt since the last one that succeeded (null while the last attempt succeeded): an endpoint
    # failing for WEBHOOK_DISABLE_AFTER_DAYS is disabled by webhooks/delivery.py, saying why in `disabled_reason`
    # (empty unless it was disabled that way; cleared when it is enabled again).
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["merchant", "status"])]

    def __str__(self) -> str:
        return self.url

    @property
    def is_enabled(self) -> bool:
        return self.status == self.Status.ENABLED


class WebhookEvent(models.Model):
    """The outbox: one thing that happened, as the exact JSON body every endpoint is sent.

    `body` is text, not JSON, so the bytes signed on every attempt are the bytes
    written at the event (Postgres' jsonb would reorder the keys).
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="webhook_events")
    event_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    type = models.CharField(max_length=40)
    # The API id of the object the event is about, and a digest of its representation: an event that would repeat
    # the last one about the same object (a replayed batch, two services touching one row in a transaction) is not
    # written again.
    object_id = models.CharField(max_length=255)
    object_digest = models.CharField(max_length=64)
    body = models.TextField()
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["merchant", "object_id", "-created_at"], name="webhookevent_object_idx")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: pending until an attempt gets a 2xx (succeeded) or the retries run out (failed)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="webhook_deliveries")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The event's object_id, copied: deliveries to one endpoint about one object are sent in order, a later one not
    # while an earlier one is pending (webhooks/delivery.py). Empty: not ordered (deliveries made before the copy).
    object_id = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due (pending only). An attempt in progress holds the delivery until `locked_until`.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    # Set by "Resend" and cleared by the attempt it asked for, which is logged as manual.
    resend_requested_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="uniq_webhook_delivery"),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(next_attempt_at=None), name="webhook_delivery_due_only_pending"
            ),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint_idx"),
            # The sweep reads only the few deliveries still pending.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhookdelivery_due_idx"),
            # Whether an earlier delivery about the same object is still pending, looked up by every claim.
            models.Index(
                fields=["endpoint", "object_id", "id"], condition=Q(status="pending"), name="webhookdelivery_order_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"

    @property
    def can_resend(self) -> bool:
        """A delivery succeeds at most once: only one that has not can be sent again."""
        return self.status != self.Status.SUCCEEDED


class WebhookAttempt(models.Model):
    """One POST of a delivery (or one that could not be made), with what the endpoint answered."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    url = models.URLField(max_length=2000)
    attempted_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first characters of the answer.")
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, help_text="Why no answer was had, if none was.")
    is_manual = models.BooleanField(default=False, help_text="Asked for with Resend.")
    # When the attempt failed: the next one, or null when it was the last.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="uniq_webhook_attempt_number")]

    def __str__(self) -> str:
        return f"#{self.number} {self.response_status or self.error}"

    @property
    def is_success(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
