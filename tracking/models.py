from django.db import models

from affiliates.models import Affiliate, Referral
from tenants.models import Merchant
from tenants.scoping import TenantQuerySet


class Click(models.Model):
    """One referral visit reported by /t.js. The raw IP is never stored."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="clicks")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="clicks")
    referral = models.ForeignKey(Referral, on_delete=models.SET_NULL, null=True, blank=True, related_name="clicks")
    landing_url = models.URLField(max_length=2000, blank=True)
    referrer = models.URLField(max_length=2000, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    # Keyed, daily-salted hash of the visitor's IP: counts unique visitors per day, identifies nobody.
    ip_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)
    # Made with the click; unique, so a buffered batch written twice stores each click once.
    token = models.CharField(max_length=32, unique=True, null=True, blank=True, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["merchant", "created_at"]),
            models.Index(fields=["affiliate", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"click {self.pk} for {self.affiliate_id}"


class SeenDomain(models.Model):
    """A host name where the tracking script has run: the installation check."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="seen_domains")
    domain = models.CharField(max_length=255)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "domain"], name="uniq_seen_domain")]

    def __str__(self) -> str:
        return self.domain


class UnstoredClick(models.Model):
    """A buffered click the database refused, parked so that the clicks around it are stored (tracking/storage.py).

    Shown on the settings page (for its merchant) and in the admin. `entry` is the click as it was buffered, as JSON
    with every character outside ASCII escaped, so it can always be stored; `merchant` is empty when the buffered
    entry could not even be read.
    """

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="unstored_clicks"
    )
    entry = models.TextField()
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["merchant", "created_at"])]

    def __str__(self) -> str:
        return f"unstored click {self.pk}"
