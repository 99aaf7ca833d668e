"""Fewer indexes on stored events: each is written by every webhook insert and every status change.

Django's operations below describe the new state only; the database gets the same result without stopping webhooks
(afficone/online_migrations.py): indexes built and dropped concurrently, the foreign key left alone, the unique
constraint on stripe_id moved to a new index by name.
"""

import django.db.models.deletion
from django.db import migrations, models

from afficone.online_migrations import Index, IndexChanges, Unique

TABLE = "stripe_integration_stripeevent"

CHANGES = IndexChanges(
    table=TABLE,
    drop=(
        Index("stripe_inte_status_761883_idx", "status, received_at"),
        Index("stripe_event_waiting", "merchant_id, status, waiting_for"),
        Index("stripe_integration_stripeevent_account_23ef4b94", "account"),
        Index(
            "stripe_integration_stripeevent_account_23ef4b94_like", "account varchar_pattern_ops", postgres_only=True
        ),
        Index("stripe_integration_stripeevent_merchant_id_f66a642b", "merchant_id"),
        Index("stripe_integration_stripeevent_received_at_b70af15a", "received_at"),
        Index("stripe_integration_stripeevent_waiting_for_3909311b", "waiting_for"),
        Index(
            "stripe_integration_stripeevent_waiting_for_3909311b_like",
            "waiting_for varchar_pattern_ops",
            postgres_only=True,
        ),
        Index(
            "stripe_integration_stripeevent_stripe_id_983a0fc1_like",
            "stripe_id varchar_pattern_ops",
            postgres_only=True,
        ),
    ),
    create=(
        Index("stripe_event_pending", "id", where="status = 'pending'"),
        Index("stripe_event_open", "status, received_at", where="status IN ('pending', 'waiting', 'failed')"),
        Index("stripe_event_waiting", "merchant_id, waiting_for", where="status = 'waiting'"),
    ),
    unique=Unique("stripe_id", before="stripe_integration_stripeevent_stripe_id_key", after="uniq_stripe_event_id"),
)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("stripe_integration", "0003_event_attempts_and_wakeups"),
        ("tenants", "0003_idempotency_key"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[CHANGES.operation()],
            state_operations=[
                migrations.RemoveIndex(
                    model_name="stripeevent",
                    name="stripe_inte_status_761883_idx",
                ),
                migrations.RemoveIndex(
                    model_name="stripeevent",
                    name="stripe_event_waiting",
                ),
                migrations.AlterField(
                    model_name="stripeevent",
                    name="account",
                    field=models.CharField(blank=True, max_length=255),
                ),
                migrations.AlterField(
                    model_name="stripeevent",
                    name="merchant",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stripe_events",
                        to="tenants.merchant",
                    ),
                ),
                migrations.AlterField(
                    model_name="stripeevent",
                    name="received_at",
                    field=models.DateTimeField(auto_now_add=True),
                ),
                migrations.AlterField(
                    model_name="stripeevent",
                    name="stripe_id",
                    field=models.CharField(max_length=255),
                ),
                migrations.AlterField(
                    model_name="stripeevent",
                    name="waiting_for",
                    field=models.CharField(blank=True, max_length=255),
                ),
                migrations.AddIndex(
                    model_name="stripeevent",
                    index=models.Index(
                        condition=models.Q(("status", "pending")), fields=["id"], name="stripe_event_pending"
                    ),
                ),
                migrations.AddIndex(
                    model_name="stripeevent",
                    index=models.Index(
                        condition=models.Q(("status__in", ["pending", "waiting", "failed"])),
                        fields=["status", "received_at"],
                        name="stripe_event_open",
                    ),
                ),
                migrations.AddIndex(
                    model_name="stripeevent",
                    index=models.Index(
                        condition=models.Q(("status", "waiting")),
                        fields=["merchant", "waiting_for"],
                        name="stripe_event_waiting",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="stripeevent",
                    constraint=models.UniqueConstraint(fields=("stripe_id",), name="uniq_stripe_event_id"),
                ),
            ],
        )
    ]
