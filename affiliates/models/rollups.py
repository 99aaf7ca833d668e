"""Daily and monthly roll-ups the dashboard and portal read instead of scanning commissions."""

from django.db import models
from django.db.models import Q

from tenants.models import Merchant
from tenants.scoping import TenantQuerySet

from .affiliates import Affiliate
from .commissions import Commission


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
