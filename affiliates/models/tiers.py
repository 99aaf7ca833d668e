"""Moves up to a program's next tier: proposed, made at once, approved or dismissed (affiliates/services/tiers.py)."""

import uuid

from django.conf import settings
from django.db import models

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

from .affiliates import Affiliate
from .programs import Program


class TierPromotion(models.Model):
    """An affiliate of `from_program` reached its next-tier threshold: moved to `to_program` at once (`moved`), or
    waiting for the merchant (`pending`, then `approved` or `dismissed`).

    One per (affiliate, from_program, to_program), ever: a dismissed move is not proposed again, and an affiliate the
    merchant moves back by hand is not moved up again by the same step (the merchant can still move it by hand).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        MOVED = "moved", "Moved automatically"
        APPROVED = "approved", "Approved"
        DISMISSED = "dismissed", "Dismissed"

    # The unique step and the status index below begin with these columns: no index of their own.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="tier_promotions", db_index=False)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="tier_promotions", db_index=False)
    from_program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    to_program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices)
    # The threshold that was reached, in words, as the program said it then.
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate", "from_program", "to_program"], name="uniq_tier_promotion_step"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status", "-created_at"], name="tier_promotion_status_idx")]

    def __str__(self) -> str:
        return f"{self.affiliate_id}: {self.from_program_id} → {self.to_program_id} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING
