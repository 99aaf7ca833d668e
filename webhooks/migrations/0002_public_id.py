"""Public UUIDs are `public_id` here too, as on every other model (affiliates' 0011_public_id).

RenameField renames the column: on Postgres a change of the catalog only (no rewrite, no index rebuilt, no row
checked), the unique index following the column under its old name.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="webhookendpoint", old_name="code", new_name="public_id"),
        migrations.RenameField(model_name="webhookdelivery", old_name="code", new_name="public_id"),
    ]
