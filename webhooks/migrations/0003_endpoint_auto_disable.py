"""An endpoint failing for days is disabled, saying why: `failing_since` and `disabled_reason`.

A nullable column, and a text column whose default is the empty string: on Postgres (11 and later) a change of the
catalog only, no table rewrite.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_public_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="failing_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="disabled_reason",
            field=models.CharField(blank=True, default="", max_length=500),
            preserve_default=False,
        ),
    ]
