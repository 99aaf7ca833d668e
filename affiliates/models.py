import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

CODE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
REFERRAL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"


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
    promotion_codes_first = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A promotion code wins over a referral id that names another affiliate.",
    )
    auto_approve = models.BooleanField(default=False, help_text="Approve affiliates who sign up themselves at once.")
    signup_open = models.BooleanField(default=True, help_text="Whether the public affiliate signup page is open.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the merchant first saves the program's settings (the onboarding step "review your program").
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(commission_bps__lte=10000), name="program_bps_at_most_100pct"),
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


class Commission(models.Model):
    """What an affiliate earned from one payment.

    One per (merchant, source_id): the Stripe object the money came from (a
    PaymentIntent, an invoice, a charge) or the merchant's own sale id for a
    conversion recorded through the API. `amount` is what was earned at
    creation; `reversed_amount` is what refunds and lost disputes took back, so
    the affiliate is owed `amount - reversed_amount`.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        VOIDED = "voided", "Voided"

    class SourceType(models.TextChoices):
        PAYMENT_INTENT = "payment_intent", "PaymentIntent"
        INVOICE = "invoice", "Invoice"
        CHARGE = "charge", "Charge"
        CHECKOUT_SESSION = "checkout_session", "Checkout Session"
        CONVERSION = "conversion", "Conversion (API)"
        IMPORT = "import", "Imported"  # `source_id` names the platform and its commission id: "rewardful:<id>"

    # Every index is written by each payment's insert: the foreign keys' own indexes would repeat the prefixes of
    # those in Meta.indexes, so they are left out.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="commissions", db_index=False)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="commissions", db_index=False)
    referral = models.ForeignKey(Referral, on_delete=models.SET_NULL, null=True, blank=True, related_name="commissions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    amount = models.BigIntegerField(help_text="Earned, in the currency's minor unit.")
    reversed_amount = models.BigIntegerField(default=0, help_text="Taken back by refunds and lost disputes.")
    currency = models.CharField(max_length=3)
    # The payment it was computed from (excluding tax), and how much of it has been refunded.
    base_amount = models.BigIntegerField()
    refunded_amount = models.BigIntegerField(default=0)
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    source_id = models.CharField(max_length=255, help_text="The Stripe object (or merchant sale id) it came from.")
    # Related Stripe ids that refunds and disputes use to find this commission.
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    stripe_invoice_id = models.CharField(max_length=255, blank=True)
    # The rule it was computed with: where it came from, its type, and its percentage (basis points) or its fixed
    # amount (in `currency`, which a fixed rule sets). `rule_label` writes it as one string for the API and exports.
    rule_source = models.CharField(max_length=10, choices=RuleSource.choices)
    rule_type = models.CharField(max_length=10, choices=RuleType.choices)
    rule_bps = models.IntegerField(null=True, blank=True)
    rule_amount = models.BigIntegerField(null=True, blank=True)
    # The program it was earned under (null only for rows older than programs), the position in that program's rules
    # of the rule that decided (source "rule"), what that rule said then (the rules may change since), and, when the
    # payment had line items, what each line earned and why (affiliates.rules.LineEarning.as_json).
    program = models.ForeignKey(
        Program, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    rule_index = models.PositiveIntegerField(null=True, blank=True)
    rule_description = models.CharField(max_length=255, blank=True)
    lines = models.JSONField(default=list, blank=True)
    is_recurring = models.BooleanField(default=False)
    is_self_referral = models.BooleanField(default=False)
    is_on_hold = models.BooleanField(default=False, help_text="Held while a dispute is open.")
    hold_until = models.DateTimeField(help_text="Becomes approved after this, unless reversed.")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=255, blank=True)
    payout = models.ForeignKey("Payout", on_delete=models.SET_NULL, null=True, blank=True, related_name="commissions")
    # What the payout actually paid for it (its net amount when the payout was marked paid). A refund or lost dispute
    # after that leaves `paid_amount - net_amount` owed back, which the next payout deducts.
    paid_amount = models.BigIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "source_id"], name="uniq_commission_source"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="commission_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(reversed_amount__gte=0) & Q(reversed_amount__lte=models.F("amount")),
                name="commission_reversed_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "status", "-created_at"]),
            models.Index(fields=["affiliate", "status"]),
            # The overview's totals read only these columns: an index-only scan on Postgres.
            models.Index(
                fields=["merchant", "created_at"],
                include=[
                    "status",
                    "currency",
                    "amount",
                    "reversed_amount",
                    "base_amount",
                    "refunded_amount",
                    "affiliate_id",
                ],
                name="commission_overview_idx",
            ),
            models.Index(fields=["affiliate", "-created_at"], name="commission_aff_recent_idx"),
            # The commissions list's order (newest first, id as the tie-break), read straight off the index.
            models.Index(fields=["merchant", "-created_at", "-id"], name="commission_list_idx"),
            # Refunds and disputes find their commission by the PaymentIntent or charge they name.
            models.Index(
                fields=["merchant", "stripe_payment_intent_id"],
                condition=~Q(stripe_payment_intent_id=""),
                name="commission_payment_intent_idx",
            ),
            models.Index(
                fields=["merchant", "stripe_charge_id"], condition=~Q(stripe_charge_id=""), name="commission_charge_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.net_amount} {self.currency} for {self.affiliate_id} from {self.source_id}"

    @property
    def net_amount(self) -> int:
        """What the commission is worth now (NET_AMOUNT below, for one row)."""
        return self.amount - self.reversed_amount

    @property
    def revenue_amount(self) -> int:
        """What is left of the payment after its refunds (REVENUE_AMOUNT below, for one row)."""
        return self.base_amount - self.refunded_amount

    @property
    def rule_label(self) -> str:
        """The rule as one string, as the API's `rule` and the CSV export show it: "program:percent:2000bps",
        "affiliate:fixed:1500 usd", "rule[1]:percent:3000bps", "rule[2]:exclude", "lines:mixed"."""
        source = f"rule[{self.rule_index}]" if self.rule_source == RuleSource.RULE else self.rule_source
        if self.rule_type == RuleType.PERCENT:
            return f"{source}:{self.rule_type}:{self.rule_bps}bps"
        if self.rule_type == RuleType.FIXED:
            return f"{source}:{self.rule_type}:{self.rule_amount} {self.currency}"
        return f"{source}:{self.rule_type}"


# The two amounts that the pages, the rollups and the payouts add up, as query expressions; the properties
# Commission.net_amount and Commission.revenue_amount are the same for one row.
# What a commission is worth now: what it earned less what refunds and lost disputes took back (owed, or paid).
NET_AMOUNT = models.F("amount") - models.F("reversed_amount")
# The payment it was computed on (tax excluded), less what has been refunded of it.
REVENUE_AMOUNT = models.F("base_amount") - models.F("refunded_amount")


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


class DailyStat(models.Model):
    """Clicks, referrals and referred customers per UTC day, per affiliate and (affiliate null) per merchant.

    Closed days only. Written only by `tracking.rollups.rollup_daily_stats`,
    which recomputes whole days from the raw rows (never increments), so a row
    is exact by construction and a re-run fixes any drift. Readers add the raw
    rows of the days after `RollupState.closed_through` (today, and any day the
    task has not reached yet), so totals are exact at every moment. The
    merchant rows (affiliate null) let the overview read one row per day
    whatever the number of affiliates.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.CASCADE, null=True, blank=True, related_name="daily_stats"
    )
    day = models.DateField()
    clicks = models.PositiveIntegerField(default=0)
    referrals = models.PositiveIntegerField(default=0)
    customers = models.PositiveIntegerField(default=0, help_text="Referrals that became customers that day.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["affiliate", "day"], name="uniq_daily_stat"),
            models.UniqueConstraint(
                fields=["merchant", "day"], condition=Q(affiliate=None), name="uniq_daily_stat_merchant"
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "day"],
                include=["clicks", "referrals", "customers"],
                condition=Q(affiliate=None),
                name="dailystat_merchant_total_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.affiliate_id or 'all'} {self.day}"


class RollupState(models.Model):
    """One row: the last UTC day whose DailyStat rows are complete for every merchant."""

    closed_through = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rolled up through {self.closed_through}"


class CommissionDailyStat(models.Model):
    """Commissions per merchant, UTC day of creation, currency and status: count, net earned and revenue.

    Postgres only (SQLite reads raw rows). Closed days only, rebuilt from raw
    rows by `affiliates.services.rollup_commission_stats`. A commission's status and
    reversals change after its day, so a database trigger marks the day of
    every later change in CommissionDirtyDay; readers read dirty days raw until
    the task has rebuilt them, so totals are exact at every moment whatever
    code (ORM update, admin, cascade, raw SQL) made the change.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Commission.Status.choices)
    payments = models.PositiveIntegerField(default=0)
    net = models.BigIntegerField(default=0, help_text="amount - reversed_amount, summed.")
    revenue = models.BigIntegerField(default=0, help_text="base_amount - refunded_amount, summed.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "currency", "status"], name="uniq_commission_daily_stat"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.day} {self.currency} {self.status}"


class AffiliateCommissionMonth(models.Model):
    """Each affiliate's commissions (voided ones excluded) per UTC calendar month and currency, for the top affiliates.

    Postgres only, complete months only (last day on or before the rollup's
    watermark), rebuilt whole from raw rows by
    `affiliates.services.rollup_commission_stats` with CommissionDailyStat. A
    per-day row per affiliate would be as many rows as commissions; a month
    keeps one row per affiliate and currency. A month holding a day the
    trigger marked in CommissionDirtyDay is read raw until the task rebuilds
    it, so the ranking and its amounts are exact at every moment.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="First day of the UTC month.")
    currency = models.CharField(max_length=3)
    payments = models.PositiveIntegerField(default=0)
    net = models.BigIntegerField(default=0, help_text="amount - reversed_amount, summed.")
    revenue = models.BigIntegerField(default=0, help_text="base_amount - refunded_amount, summed.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["affiliate", "month", "currency"], name="uniq_affiliate_commission_month"),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "month"],
                include=["affiliate_id", "currency", "payments", "net", "revenue"],
                name="aff_commission_month_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.affiliate_id} {self.month:%Y-%m} {self.currency}"


class CommissionDirtyDay(models.Model):
    """A closed day whose commissions changed after it was rolled up; written by the trigger, cleared by the task.

    `version` comes from a sequence at each change, so the task deletes only
    the marks it has rebuilt (a change committed meanwhile keeps its mark).
    """

    # A plain id, not a foreign key: the trigger also fires while a merchant's rows are being deleted, and its marks
    # must not hold up that deletion. Marks of a deleted merchant are cleared by the next rollup.
    merchant_pk = models.BigIntegerField()
    day = models.DateField()
    version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant_pk", "day"], name="uniq_commission_dirty_day")]

    def __str__(self) -> str:
        return f"{self.merchant_pk} {self.day}"


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
