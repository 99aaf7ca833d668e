"""Leads: a referred visitor who signed up on the merchant's site, so the referral is bound to an email (and maybe
a Stripe customer id and the merchant's own user id) until a Stripe customer with that email appears."""

import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

from .affiliates import Referral


class Lead(models.Model):
    class Origin(models.TextChoices):
        """Who reported it: the visitor's browser (`Afficone.signup`, the public key) or the merchant's server (an API
        key). A server lead is trusted before a browser lead when both name the same email."""

        BROWSER = "browser", "Browser (Afficone.signup)"
        SERVER = "server", "Server (API)"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="leads")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="leads")
    # Lower-cased and trimmed (affiliates/services/leads.py normalize_email); plus-addresses are kept as they are.
    email = models.CharField(max_length=254)
    # The customer the lead names (matched like the email), and the one it bound, once it did.
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    external_id = models.CharField(max_length=255, blank=True, help_text="The merchant's own id for the visitor.")
    origin = models.CharField(max_length=10, choices=Origin.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    bound_customer_id = models.CharField(max_length=255, blank=True)
    bound_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # One lead per referral and email: the browser reporting the same signup again changes nothing.
            models.UniqueConstraint(fields=["referral", "email"], name="uniq_lead_referral_email"),
        ]
        indexes = [
            models.Index(fields=["merchant", "email"], name="lead_email_idx"),
            models.Index(
                fields=["merchant", "stripe_customer_id"], condition=~Q(stripe_customer_id=""), name="lead_customer_idx"
            ),
            models.Index(fields=["merchant", "created_at"], name="lead_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.referral_id})"
