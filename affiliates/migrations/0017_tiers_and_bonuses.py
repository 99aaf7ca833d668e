"""Tiers and bonuses: a program's next tier (a threshold on the affiliate's results, a period, automatic or after
approval) and its one-off bonuses; commissions of the new source type `bonus` (rule source `bonus`); the moves up a
tier (TierPromotion). Columns with database defaults, so processes of the release before keep inserting programs."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("affiliates", "0016_rule_source_metadata"),
        ("tenants", "0006_merchant_stripe_scope"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="program",
            name="bonuses",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
        migrations.AddField(
            model_name="program",
            name="next_tier",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="affiliates.program",
            ),
        ),
        migrations.AddField(
            model_name="program",
            name="tier_mode",
            field=models.CharField(
                choices=[("automatic", "Automatically"), ("approval", "After the merchant approves")],
                db_default="automatic",
                default="automatic",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="program",
            name="tier_period_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="program",
            name="tier_when",
            field=models.JSONField(blank=True, db_default={}, default=dict),
        ),
        migrations.AlterField(
            model_name="commission",
            name="rule_source",
            field=models.CharField(
                choices=[
                    ("program", "Program"),
                    ("affiliate", "Affiliate override"),
                    ("imported", "Imported"),
                    ("rule", "A rule of the program"),
                    ("lines", "Rules per line"),
                    ("bonus", "A bonus of the program"),
                ],
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="commission",
            name="source_type",
            field=models.CharField(
                choices=[
                    ("payment_intent", "PaymentIntent"),
                    ("invoice", "Invoice"),
                    ("charge", "Charge"),
                    ("checkout_session", "Checkout Session"),
                    ("conversion", "Conversion (API)"),
                    ("import", "Imported"),
                    ("bonus", "Bonus"),
                ],
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="TierPromotion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting for approval"),
                            ("moved", "Moved automatically"),
                            ("approved", "Approved"),
                            ("dismissed", "Dismissed"),
                        ],
                        max_length=10,
                    ),
                ),
                ("reason", models.CharField(blank=True, max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                (
                    "affiliate",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tier_promotions",
                        to="affiliates.affiliate",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "from_program",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="affiliates.program"
                    ),
                ),
                (
                    "merchant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tier_promotions",
                        to="tenants.merchant",
                    ),
                ),
                (
                    "to_program",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="affiliates.program"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["merchant", "status", "-created_at"], name="tier_promotion_status_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("affiliate", "from_program", "to_program"), name="uniq_tier_promotion_step"
                    )
                ],
            },
        ),
    ]
