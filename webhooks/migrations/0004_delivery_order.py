"""Deliveries to one endpoint about one object go in order: each delivery keeps its event's object_id, and a partial
index on the pending ones answers "is an earlier one still pending?" for every claim.

The column is added with an empty default (on Postgres 11 and later a change of the catalog only); deliveries made
before it keep it empty and are not ordered, which only concerns those still pending at the deploy. The index is
built CONCURRENTLY (afficone/online_migrations.py): events keep writing deliveries meanwhile.
"""

from django.db import migrations, models

from afficone.online_migrations import Index, IndexChanges

CHANGES = IndexChanges(
    table="webhooks_webhookdelivery",
    create=(Index("webhookdelivery_order_idx", "endpoint_id, object_id, id", where="status = 'pending'"),),
)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("webhooks", "0003_endpoint_auto_disable"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="object_id",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[CHANGES.operation()],
            state_operations=[
                migrations.AddIndex(
                    model_name="webhookdelivery",
                    index=models.Index(
                        condition=models.Q(("status", "pending")),
                        fields=["endpoint", "object_id", "id"],
                        name="webhookdelivery_order_idx",
                    ),
                ),
            ],
        ),
    ]
