"""Public UUIDs are `public_id` on every model, so `code` names only an affiliate's referral code.

RenameField renames the column: on Postgres a change of the catalog only (no rewrite, no index rebuilt, no row
checked), the unique index following the column under its old name.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_merchant_proxy_secret"),
    ]

    operations = [
        migrations.RenameField(model_name="merchant", old_name="code", new_name="public_id"),
        migrations.RenameField(model_name="membership", old_name="code", new_name="public_id"),
        migrations.RenameField(model_name="invitation", old_name="code", new_name="public_id"),
        migrations.RenameField(model_name="apikey", old_name="code", new_name="public_id"),
    ]
