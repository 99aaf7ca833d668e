"""A reconciliation run's public UUID is `public_id`, as on every other model (`code` is the affiliate's referral code).

RenameField renames the column: on Postgres a change of the catalog only, the unique index following the column.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("stripe_integration", "0007_promotion_codes_and_backfills")]

    operations = [migrations.RenameField(model_name="stripesync", old_name="code", new_name="public_id")]
