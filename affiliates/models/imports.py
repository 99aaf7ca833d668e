"""What was imported from another affiliate platform (affiliates/importers/)."""

from django.db import models
from django.db.models import Q

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

from .affiliates import Affiliate


class ImportPlatform(models.TextChoices):
    """The affiliate platforms a merchant can bring its affiliates from (affiliates/importers/)."""

    REWARDFUL = "rewardful", "Rewardful"
    FIRSTPROMOTER = "firstpromoter", "FirstPromoter"
    TOLT = "tolt", "Tolt"


class ImportedAffiliate(models.Model):
    """An affiliate brought from another platform, by that platform's id for it: a second import of the same
    export finds the affiliate again, whatever its email or code has become."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="imported_as")
    platform = models.CharField(max_length=16, choices=ImportPlatform.choices)
    external_id = models.CharField(max_length=255)
    imported_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "platform", "external_id"], name="uniq_imported_affiliate"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"


class LegacyCode(models.Model):
    """A code an affiliate's links carried on the platform the merchant came from (?via=, ?fpr=, ?ref=) that is not
    its code here: clicks and payments naming it still reach the affiliate. Stored lower-case, since codes are
    compared without case; no affiliate code or other legacy code of the merchant equals it."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="legacy_codes")
    code = models.CharField(max_length=64)
    platform = models.CharField(max_length=16, choices=ImportPlatform.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="uniq_legacy_code"),
            models.CheckConstraint(condition=Q(code__regex=r"^[a-z0-9_-]{1,64}$"), name="legacy_code_format"),
        ]

    def __str__(self) -> str:
        return self.code
