"""Programs (campaigns): their settings, ordered rules and what kind of rule decided a commission."""

import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet


class CommissionType(models.TextChoices):
    PERCENT = "percent", "Percentage"
    FIXED = "fixed", "Fixed amount"


class RuleSource(models.TextChoices):
    """Where a commission's rule came from."""

    PROGRAM = "program", "Program"
    AFFILIATE = "affiliate", "Affiliate override"
    IMPORTED = "imported", "Imported"  # earned on the platform the merchant came from (affiliates/importers/)
    RULE = "rule", "A rule of the program"
    LINES = "lines", "Rules per line"
    TWO_TIER = "two_tier", "Two-tier share"  # the parent's share of a sub-affiliate's commission (rule_bps)
    BONUS = "bonus", "A bonus of the program"  # `rule_index` is the bonus's position in Program.bonuses
    # A line of a product whose Stripe metadata says `afficone: "false"` (stripe_integration/services/exclusions.py).
    METADATA = "metadata", "Excluded by the product's metadata"


class RuleType(models.TextChoices):
    """What the rule of a commission paid: a commission type, nothing (an exclusion), or per line (see `lines`)."""

    PERCENT = "percent", "Percentage"
    FIXED = "fixed", "Fixed amount"
    EXCLUDE = "exclude", "Nothing (excluded)"
    MIXED = "mixed", "Per line"


PROGRAM_SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$"


class Program(models.Model):
    """An affiliate program (a campaign) and its commission rules. A merchant has any number; each affiliate is in
    one; exactly one is the default, which new affiliates join unless told otherwise.

    The default program: 20% of each payment excluding tax,
    recurring for 12 months, 60-day cookie, 30-day hold. `rules` is the
    ordered list of affiliates/rules.py, checked there on every write; a
    payment's line that no rule matches earns the commission below.
    """

    class Attribution(models.TextChoices):
        LAST_CLICK = "last_click", "Last click wins"
        FIRST_CLICK = "first_click", "First click wins"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    class TierMode(models.TextChoices):
        AUTOMATIC = "automatic", "Automatically"
        APPROVAL = "approval", "After the merchant approves"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="programs")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, default="Affiliate program")
    # The program's own signup page: /p/<merchant slug>/join/<slug>/.
    slug = models.CharField(max_length=60)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    is_default = models.BooleanField(default=True)
    rules = models.JSONField(default=list, blank=True)
    commission_type = models.CharField(max_length=10, choices=CommissionType.choices, default=CommissionType.PERCENT)
    # Percentage in basis points: 2000 = 20%.
    commission_bps = models.PositiveIntegerField(default=2000)
    # Fixed commission, in the minor unit of `commission_currency`.
    commission_amount = models.PositiveBigIntegerField(default=0)
    commission_currency = models.CharField(max_length=3, default="usd")
    # Months after the first payment in which recurring payments still earn; null = forever, 0 = first payment only.
    recurring_months = models.PositiveIntegerField(null=True, blank=True, default=12)
    cookie_days = models.PositiveIntegerField(default=60)
    hold_days = models.PositiveIntegerField(default=30)
    # Minimum payout, in the minor unit of each payout's currency.
    min_payout_amount = models.PositiveBigIntegerField(default=5000)
    attribution = models.CharField(max_length=12, choices=Attribution.choices, default=Attribution.LAST_CLICK)
    # Where a payment's referral id and an assigned promotion code name different affiliates, which one earns
    # (DESIGN.md, "Attribution beyond the cookie": the referral id, unless the program puts promotion codes first).
    # New programs put codes first (the code is the customer's last act); programs from before keep what they had.
    promotion_codes_first = models.BooleanField(
        default=True,
        db_default=True,
        help_text="A promotion code wins over a referral id that names another affiliate.",
    )
    # Two-tier: an affiliate's parent (Affiliate.parent, the affiliate whose link it joined through) earns
    # `two_tier_bps` of each commission the affiliate earns under this program (affiliates/services/two_tier.py).
    two_tier = models.BooleanField(
        default=False, db_default=False, help_text="Parents earn a share of their sub-affiliates' commissions."
    )
    two_tier_bps = models.PositiveIntegerField(
        default=1000,
        db_default=1000,
        help_text="The parent's share, in basis points of the sub-affiliate's commission.",
    )
    auto_approve = models.BooleanField(default=False, help_text="Approve affiliates who sign up themselves at once.")
    signup_open = models.BooleanField(default=True, help_text="Whether the public affiliate signup page is open.")
    # Tiers (affiliates/tiers.py, affiliates/services/tiers.py): an affiliate of this program whose results reach
    # `tier_when` ({"affiliate_customers_gte": N} or {"affiliate_revenue_gte": {"amount", "currency"}}), over the
    # last `tier_period_days` days (null: all time), moves to `next_tier`, at once or once the merchant approves.
    next_tier = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    tier_when = models.JSONField(default=dict, blank=True, db_default={})
    tier_period_days = models.PositiveIntegerField(null=True, blank=True)
    tier_mode = models.CharField(
        max_length=10, choices=TierMode.choices, default=TierMode.AUTOMATIC, db_default=TierMode.AUTOMATIC
    )
    # One-off bonuses (affiliates/tiers.py): [{"id", "when", "bonus": {"amount", "currency"}, "label"?}], each paid
    # once to an affiliate of this program, as its own Commission, when its results reach `when`.
    bonuses = models.JSONField(default=list, blank=True, db_default=[])
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the merchant first saves the program's settings (the onboarding step "review your program").
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(commission_bps__lte=10000), name="program_bps_at_most_100pct"),
            models.CheckConstraint(condition=Q(two_tier_bps__lte=10000), name="program_two_tier_at_most_100pct"),
            models.CheckConstraint(
                condition=Q(cookie_days__gte=1, cookie_days__lte=730), name="program_cookie_days_range"
            ),
            models.UniqueConstraint(fields=["merchant"], condition=Q(is_default=True), name="uniq_default_program"),
            models.UniqueConstraint(fields=["merchant", "slug"], name="uniq_program_slug"),
            models.CheckConstraint(condition=Q(slug__regex=PROGRAM_SLUG_PATTERN), name="program_slug_format"),
            models.CheckConstraint(
                condition=~Q(is_default=True, status="archived"), name="program_default_not_archived"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED

    @property
    def has_goals(self) -> bool:
        """Whether the affiliate's results matter after a commission: a next tier or a bonus to reach."""
        return self.next_tier_id is not None or bool(self.bonuses)
