"""Fewer indexes on commissions: each is written by every payment's insert.

Django's operations below describe the new state only; the database gets the same result without stopping
attribution (afficone/online_migrations.py): indexes built and dropped concurrently, the foreign keys left alone.
"""

import django.db.models.deletion
from django.db import migrations, models

from afficone.online_migrations import Index, IndexChanges

TABLE = "affiliates_commission"

CHANGES = IndexChanges(
    table=TABLE,
    drop=(
        Index("affiliates__merchan_f23539_idx", "merchant_id, created_at DESC"),
        Index("affiliates_commission_affiliate_id_6cc492be", "affiliate_id"),
        Index("affiliates_commission_merchant_id_264f2b5c", "merchant_id"),
        Index("affiliates_commission_stripe_charge_id_a21f5aeb", "stripe_charge_id"),
        Index(
            "affiliates_commission_stripe_charge_id_a21f5aeb_like",
            "stripe_charge_id varchar_pattern_ops",
            postgres_only=True,
        ),
        Index("affiliates_commission_stripe_payment_intent_id_92b84503", "stripe_payment_intent_id"),
        Index(
            "affiliates_commission_stripe_payment_intent_id_92b84503_like",
            "stripe_payment_intent_id varchar_pattern_ops",
            postgres_only=True,
        ),
    ),
    create=(
        Index(
            "commission_payment_intent_idx",
            "merchant_id, stripe_payment_intent_id",
            where="NOT (stripe_payment_intent_id = '')",
        ),
        Index("commission_charge_idx", "merchant_id, stripe_charge_id", where="NOT (stripe_charge_id = '')"),
    ),
)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("affiliates", "0008_payout_clawbacks"),
        ("tenants", "0003_idempotency_key"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[CHANGES.operation()],
            state_operations=[
                migrations.RemoveIndex(
                    model_name="commission",
                    name="affiliates__merchan_f23539_idx",
                ),
                migrations.AlterField(
                    model_name="commission",
                    name="affiliate",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="commissions",
                        to="affiliates.affiliate",
                    ),
                ),
                migrations.AlterField(
                    model_name="commission",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="commissions",
                        to="tenants.merchant",
                    ),
                ),
                migrations.AlterField(
                    model_name="commission",
                    name="stripe_charge_id",
                    field=models.CharField(blank=True, max_length=255),
                ),
                migrations.AlterField(
                    model_name="commission",
                    name="stripe_payment_intent_id",
                    field=models.CharField(blank=True, max_length=255),
                ),
                migrations.AddIndex(
                    model_name="commission",
                    index=models.Index(
                        condition=models.Q(("stripe_payment_intent_id", ""), _negated=True),
                        fields=["merchant", "stripe_payment_intent_id"],
                        name="commission_payment_intent_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="commission",
                    index=models.Index(
                        condition=models.Q(("stripe_charge_id", ""), _negated=True),
                        fields=["merchant", "stripe_charge_id"],
                        name="commission_charge_idx",
                    ),
                ),
            ],
        )
    ]
