"""A commission line can be decided by the product's Stripe metadata (`afficone: "false"`): RuleSource gains
`metadata`. Choices live in Django's state only: no SQL runs."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("affiliates", "0015_leads")]

    operations = [
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
                    ("metadata", "Excluded by the product's metadata"),
                ],
                max_length=10,
            ),
        ),
    ]
