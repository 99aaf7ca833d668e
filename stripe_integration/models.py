import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from affiliates.models import Affiliate, Referral
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

    # Indexes: each one is written on every insert (the webhook) and on every status change (processing), so only
    # those a query needs exist (Meta.indexes); partial ones cover the few events not yet done.
    stripe_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    account = models.CharField(max_length=255, blank=True)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="stripe_events", db_index=False
    )
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # What a WAITING event waits for (a customer id, a charge or payment intent id); re-run when it appears.
    waiting_for = models.CharField(max_length=255, blank=True)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When processing last started, and when the periodic sweep (or a wake-up) last re-enqueued the event.
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    # Why a processed event earned less than its payment might have, for the merchant (Settings -> Stripe):
    # "excluded: customer metadata afficone=false", "earns nothing: a $0 invoice (a trial)". Empty otherwise.
    outcome = models.CharField(max_length=255, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stripe_id"], name="uniq_stripe_event_id")]
        indexes = [
            # The health page and the merchant's event list.
            models.Index(fields=["merchant", "received_at"]),
            # The drainers' next event (oldest pending first).
            models.Index(fields=["id"], condition=models.Q(status="pending"), name="stripe_event_pending"),
            # The periodic sweep: pending, waiting and failed events by age.
            models.Index(
                fields=["status", "received_at"],
                condition=models.Q(status__in=["pending", "waiting", "failed"]),
                name="stripe_event_open",
            ),
            # Waking the events parked on a customer, payment or invoice id.
            models.Index(
                fields=["merchant", "waiting_for"], condition=models.Q(status="waiting"), name="stripe_event_waiting"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class StripeSync(models.Model):
    """One reconciliation run: the connected account's events read back from Stripe's Events API, and those the
    webhook never delivered stored and processed as if it had (stripe_integration/reconciliation.py).

    At most one run per merchant is queued or running at a time (`one_active_stripe_sync`). `cursor` is the last
    event id whose page is stored: a run handed over to a fresh task, or taken up again after its worker died,
    goes on from there. `events_seen` counts what Stripe listed, `events_stored` the events that were new here.
    """

    class Trigger(models.TextChoices):
        COMMAND = "command", "manage.py stripe_sync"
        BUTTON = "button", "Check for missed events"
        NIGHTLY = "nightly", "Nightly check"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="stripe_syncs", db_index=False)
    account = models.CharField(max_length=255)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    since = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the run last made progress (or was created): a queued or running run silent for long is taken as dead.
    updated_at = models.DateTimeField(default=timezone.now)
    # The task working on it holds it until then (renewed after every page), so a redelivered task never runs beside it.
    leased_until = models.DateTimeField(null=True, blank=True)
    cursor = models.CharField(max_length=255, blank=True)
    pages = models.PositiveIntegerField(default=0)
    events_seen = models.PositiveIntegerField(default=0)
    events_stored = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"], condition=models.Q(status__in=["queued", "running"]), name="one_active_stripe_sync"
            )
        ]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="stripe_sync_latest")]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} of {self.account} since {self.since:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class PromotionCode(models.Model):
    """A promotion code of the merchant's Stripe account, assigned to one of its affiliates.

    A Checkout Session, invoice or subscription that uses it is attributed to that affiliate, with no link and no
    referral id (stripe_integration/services/promotion_codes.py). Unique per merchant by Stripe's id: a code earns for
    one affiliate. `code` and `coupon_id` are what Stripe said when it was assigned, for display.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+", db_index=False)
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="promotion_codes")
    stripe_id = models.CharField("Stripe promotion code id", max_length=255)
    code = models.CharField(max_length=255, help_text="What customers type, e.g. MAYA20.")
    coupon_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "stripe_id"], name="uniq_promotion_code")]

    def __str__(self) -> str:
        return self.code


class CustomerBackfill(models.Model):
    """The merchant bound an existing Stripe customer to an affiliate: the customer's past payments, read from
    Stripe's API and credited once (stripe_integration/services/backfill.py), and what that came to.

    One per manual referral. `payments` counts the past payments read, `credited` those that now earn for this
    referral, `amounts` what they earn per currency ({"usd": 1800}); a run again recounts the same payments.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Reading payments from Stripe"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+", db_index=False)
    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="backfill")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    payments = models.PositiveIntegerField(default=0)
    credited = models.PositiveIntegerField(default=0)
    amounts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"backfill of {self.referral_id}: {self.status}"
