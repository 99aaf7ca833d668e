from django.db import models

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet


class StripeEvent(models.Model):
    """A Stripe webhook event, stored before it is acknowledged (dj-stripe).

    Unique by Stripe's event id, so a redelivery is recognised and ignored.
    `merchant` is null for events whose `account` names no tenant.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        WAITING = "waiting", "Waiting for a related object"
        FAILED = "failed", "Failed"

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    account = models.CharField(max_length=255, blank=True, db_index=True)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="stripe_events"
    )
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # What a WAITING event waits for (a customer id, a charge or payment intent id); re-run when it appears.
    waiting_for = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When processing last started, and when the periodic sweep (or a wake-up) last re-enqueued the event.
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["merchant", "received_at"]),
            models.Index(fields=["merchant", "status", "waiting_for"], name="stripe_event_waiting"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"
