"""A processed event says why it earned nothing (or less than its payment might have): `outcome`, shown on the event
in Settings -> Stripe ("excluded: customer metadata afficone=false", "earns nothing: a $0 invoice (a trial)").

Adding a column with a constant default is a change of the catalog only on Postgres 11 and later: no table rewrite.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("stripe_integration", "0008_stripe_sync_public_id")]

    operations = [
        migrations.AddField(
            model_name="stripeevent", name="outcome", field=models.CharField(blank=True, max_length=255)
        )
    ]
