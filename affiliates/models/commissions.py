"""Commissions, one per payment an affiliate earned on, and the money aggregates every sum uses."""

import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

from .affiliates import Affiliate, Referral
from .programs import Program, RuleSource, RuleType


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
        # The parent's share of a sub-affiliate's commission: `source_id` is "two_tier:<that commission's public_id>".
        TWO_TIER = "two_tier", "Two-tier (a sub-affiliate's commission)"
        # A program's one-off bonus: base_amount 0, no referral; `source_id` is "bonus:<program>:<bonus id>:<affiliate>"
        # (affiliates/services/tiers.py), so the unique source makes it once per affiliate.
        BONUS = "bonus", "Bonus"

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
