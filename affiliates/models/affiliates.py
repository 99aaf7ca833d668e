"""Affiliates and their referrals (a click, lead, promotion code or manual binding that a payment can reach)."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

from .programs import CommissionType, Program

CODE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
REFERRAL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"


class Affiliate(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"

    class PayoutMethod(models.TextChoices):
        PAYPAL = "paypal", "PayPal"
        BANK = "bank", "Bank transfer"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="affiliates")
    # The id in URLs and the API, as on every model; `code` is the referral code that links carry.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="affiliates")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="affiliates"
    )
    code = models.CharField(max_length=64, help_text="Used in links: ?ref=CODE. Letters, digits, - and _.")
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Per-affiliate override of the program's rule; null fields mean "use the program's".
    commission_type_override = models.CharField(max_length=10, choices=CommissionType.choices, blank=True)
    commission_bps_override = models.PositiveIntegerField(null=True, blank=True)
    commission_amount_override = models.PositiveBigIntegerField(null=True, blank=True)
    payout_method = models.CharField(max_length=10, choices=PayoutMethod.choices, default=PayoutMethod.PAYPAL)
    paypal_email = models.EmailField(blank=True)
    bank_details = models.TextField(blank=True)
    notify_on_commission = models.BooleanField(default=True)
    # The affiliate whose link (or referral) this one joined through: its parent earns a share of its commissions
    # where the program is two-tier. Same merchant, never itself (affiliates/services/two_tier.py sets it).
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="sub_affiliates")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="uniq_affiliate_code"),
            models.UniqueConstraint(Lower("email"), "merchant", name="uniq_affiliate_email"),
            models.CheckConstraint(condition=Q(code__regex=CODE_PATTERN), name="affiliate_code_format"),
            models.CheckConstraint(
                condition=Q(commission_bps_override__isnull=True) | Q(commission_bps_override__lte=10000),
                name="affiliate_bps_override_at_most_100pct",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True) | ~Q(parent=F("pk")), name="affiliate_not_its_own_parent"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status"])]

    def __str__(self) -> str:
        return f"{self.name or self.email} ({self.code})"

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED

    def is_self_referral(self, customer_email: str) -> bool:
        """Whether a paying customer's email is the affiliate's own: a payment through one's own link, which earns
        nothing (the commission is kept, voided and flagged)."""
        return bool(customer_email) and customer_email.strip().lower() == self.email.lower()


def new_referral_id() -> str:
    # 22 url-safe characters: a valid client_reference_id ([A-Za-z0-9_-]{1,200}).
    return secrets.token_urlsafe(16)


class Referral(models.Model):
    """A visitor sent by an affiliate, later (maybe) a Stripe customer.

    `rid` is the public referral id stored in the `afficone_ref` cookie and
    passed to Stripe as `client_reference_id` or `metadata._afficoneRef`.
    `source` says how it came about: a click on a link, a lead, a promotion code
    used at checkout, or the merchant binding a customer (dashboard or API).
    """

    class Source(models.TextChoices):
        """How the referral came about (the API's `referrals.source`)."""

        CLICK = "click", "Click"
        LEAD = "lead", "Lead"
        PROMOTION_CODE = "promotion_code", "Promotion code"
        MANUAL = "manual", "Manual"
        API = "api", "API"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="referrals")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="referrals")
    rid = models.CharField("referral id", max_length=200, unique=True, default=new_referral_id)
    # The database default too: processes of the release before this column insert referrals without it.
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CLICK, db_default=Source.CLICK)
    # NULL, not '': many referrals have no customer yet, and a unique constraint must not see them as equal.
    stripe_customer_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    customer_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    converted_at = models.DateTimeField(null=True, blank=True, help_text="First payment or customer link.")
    # Start of the recurring window (first paid payment).
    first_payment_at = models.DateTimeField(null=True, blank=True)
    subscription_ended_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(rid__regex=REFERRAL_ID_PATTERN), name="referral_id_format"),
            models.UniqueConstraint(
                fields=["merchant", "stripe_customer_id"],
                condition=Q(stripe_customer_id__isnull=False),
                name="uniq_referral_customer",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "created_at"]),
            models.Index(fields=["affiliate", "created_at"]),
            models.Index(fields=["merchant", "converted_at"], name="referral_converted_idx"),
        ]

    def __str__(self) -> str:
        return self.rid
