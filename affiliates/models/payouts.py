"""Payouts to affiliates and the batches they are paid in."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

from .affiliates import Affiliate


class PayoutBatch(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="payout_batches")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Batch {self.created_at:%Y-%m-%d %H:%M}"


class Payout(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="payouts")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    batch = models.ForeignKey(PayoutBatch, on_delete=models.CASCADE, null=True, blank=True, related_name="payouts")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.PROTECT, related_name="payouts")
    amount = models.BigIntegerField(help_text="Sum of its commissions' net amounts, less `deducted_amount`.")
    # Reversals of commissions already paid out (refunds, lost disputes), recovered from this payout.
    deducted_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reference = models.CharField(max_length=255, blank=True, help_text="The transfer's reference, e.g. a PayPal id.")
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive")]
        indexes = [models.Index(fields=["merchant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} to {self.affiliate_id}"
