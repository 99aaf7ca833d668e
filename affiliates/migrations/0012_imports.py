"""Importing from other affiliate platforms (affiliates/importers/): a referral's source, the affiliates brought
over by the platform's id for them, and the codes their old links carry.

`Referral.source` has a database default, so the release before it keeps inserting referrals while this runs, and
adding it is a catalog change on Postgres (a constant default rewrites no row). The two new tables start empty.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("affiliates", "0011_public_id"),
        ("tenants", "0004_merchant_proxy_secret"),
    ]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="source",
            field=models.CharField(
                choices=[
                    ("click", "Click"),
                    ("lead", "Lead"),
                    ("promotion_code", "Promotion code"),
                    ("manual", "Manual"),
                    ("api", "API"),
                ],
                db_default="click",
                default="click",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="commission",
            name="rule_source",
            field=models.CharField(
                choices=[("program", "Program"), ("affiliate", "Affiliate override"), ("imported", "Imported")],
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
                ],
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="ImportedAffiliate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "platform",
                    models.CharField(
                        choices=[("rewardful", "Rewardful"), ("firstpromoter", "FirstPromoter"), ("tolt", "Tolt")],
                        max_length=16,
                    ),
                ),
                ("external_id", models.CharField(max_length=255)),
                ("imported_at", models.DateTimeField(auto_now_add=True)),
                (
                    "affiliate",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="imported_as",
                        to="affiliates.affiliate",
                    ),
                ),
                (
                    "merchant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.merchant"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("merchant", "platform", "external_id"), name="uniq_imported_affiliate"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="LegacyCode",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=64)),
                (
                    "platform",
                    models.CharField(
                        choices=[("rewardful", "Rewardful"), ("firstpromoter", "FirstPromoter"), ("tolt", "Tolt")],
                        max_length=16,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "affiliate",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="legacy_codes",
                        to="affiliates.affiliate",
                    ),
                ),
                (
                    "merchant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.merchant"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("merchant", "code"), name="uniq_legacy_code"),
                    models.CheckConstraint(
                        condition=models.Q(("code__regex", "^[a-z0-9_-]{1,64}$")), name="legacy_code_format"
                    ),
                ],
            },
        ),
    ]
