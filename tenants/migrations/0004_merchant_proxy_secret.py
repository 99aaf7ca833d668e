from django.db import migrations, models

import tenants.models


def fill_secrets(apps, schema_editor):
    # A callable default is evaluated once for the existing rows: each merchant gets a secret of its own here.
    Merchant = apps.get_model("tenants", "Merchant")
    for merchant in Merchant.objects.filter(proxy_secret="").only("pk"):
        Merchant.objects.filter(pk=merchant.pk).update(proxy_secret=tenants.models.new_proxy_secret())


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_idempotency_key")]

    operations = [
        migrations.AddField(
            model_name="merchant",
            name="proxy_secret",
            field=models.CharField(default="", editable=False, max_length=64),
        ),
        migrations.RunPython(fill_secrets, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="merchant",
            name="proxy_secret",
            field=models.CharField(default=tenants.models.new_proxy_secret, editable=False, max_length=64),
        ),
    ]
