"""Two-tier programs: a program's switch and share, an affiliate's parent, and the two-tier commission kinds."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("affiliates", "0017_tiers_and_bonuses"),
    ]

    operations = [
        migrations.AddField(
            model_name="affiliate",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="sub_affiliates",
                to="affiliates.affiliate",
            ),
        ),
        migrations.AddField(
            model_name="program",
            name="two_tier",
            field=models.BooleanField(
                db_default=False, default=False, help_text="Parents earn a share of their sub-affiliates' commissions."
            ),
        ),
        migrations.AddField(
            model_name="program",
            name="two_tier_bps",
            field=models.PositiveIntegerField(
                db_default=1000,
                default=1000,
                help_text="The parent's share, in basis points of the sub-affiliate's commission.",
            ),
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
                    ("two_tier", "Two-tier share"),
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
                    ("two_tier", "Two-tier (a sub-affiliate's commission)"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddConstraint(
            model_name="affiliate",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("parent__isnull", True), models.Q(("parent", models.F("pk")), _negated=True), _connector="OR"
                ),
                name="affiliate_not_its_own_parent",
            ),
        ),
        migrations.AddConstraint(
            model_name="program",
            constraint=models.CheckConstraint(
                condition=models.Q(("two_tier_bps__lte", 10000)), name="program_two_tier_at_most_100pct"
            ),
        ),
    ]
