"""Public UUIDs are `public_id` on every model, so `code` names only an affiliate's referral code.

RenameField renames the column: on Postgres a change of the catalog only (no rewrite, no index rebuilt, no row
checked), the unique index following the column under its old name.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("affiliates", "0010_commission_rule_fields"),
    ]

    operations = [
        migrations.RenameField(model_name="affiliate", old_name="uid", new_name="public_id"),
        migrations.RenameField(model_name="program", old_name="code", new_name="public_id"),
        migrations.RenameField(model_name="commission", old_name="code", new_name="public_id"),
        migrations.RenameField(model_name="payoutbatch", old_name="code", new_name="public_id"),
        migrations.RenameField(model_name="payout", old_name="code", new_name="public_id"),
    ]
