"""Several programs per merchant, each with its signup page (slug), a status and its rules; commissions record the
program they were earned under, the rule that decided, what it said, and what each line of the payment earned.

Existing programs (one per merchant so far, the default) get the slug "affiliates"; existing commissions are given
their affiliate's program, in batches of ids each committed on its own (the migration is not atomic), as 0010_commission_rule_fields does.
On Postgres the commission's new foreign key is added NOT VALID and validated afterwards, so the table is not locked
against the payments being recorded while every row is checked (afficone/online_migrations.py); the new columns
are nullable or take a constant default, which Postgres adds without rewriting the table.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

BATCH = 5000
COMMISSION = "affiliates_commission"
PROGRAM = "affiliates_program"
FOREIGN_KEY = "affiliates_commission_program_id_fk_affiliates_program_id"

PROGRAM_FIELD = models.ForeignKey(
    blank=True,
    db_index=False,
    null=True,
    on_delete=django.db.models.deletion.SET_NULL,
    related_name="+",
    to="affiliates.program",
)


def fill_slugs(apps, schema_editor):
    Program = apps.get_model("affiliates", "Program")
    taken: dict = {}
    for program in Program.objects.order_by("-is_default", "pk"):
        used = taken.setdefault(program.merchant_id, set())
        slug = "affiliates" if not used else f"program-{program.pk}"
        used.add(slug)
        Program.objects.filter(pk=program.pk).update(slug=slug)


def add_program_column(apps, schema_editor):
    Commission = apps.get_model("affiliates", "Commission")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_field(Commission, Commission._meta.get_field("program"))
        return
    schema_editor.execute(f'ALTER TABLE "{COMMISSION}" ADD COLUMN "program_id" bigint NULL')
    schema_editor.execute(
        f'ALTER TABLE "{COMMISSION}" ADD CONSTRAINT "{FOREIGN_KEY}" FOREIGN KEY ("program_id") '
        f'REFERENCES "{PROGRAM}" ("id") DEFERRABLE INITIALLY DEFERRED NOT VALID'
    )


def validate_program_column(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "{COMMISSION}" VALIDATE CONSTRAINT "{FOREIGN_KEY}"')


def drop_program_column(apps, schema_editor):
    Commission = apps.get_model("affiliates", "Commission")
    schema_editor.remove_field(Commission, Commission._meta.get_field("program"))


def backfill_programs(apps, schema_editor):
    Commission = apps.get_model("affiliates", "Commission")
    Affiliate = apps.get_model("affiliates", "Affiliate")
    program_of = Subquery(Affiliate.objects.filter(pk=OuterRef("affiliate_id")).values("program_id")[:1])
    last = 0
    while True:
        ids = list(
            Commission.objects.filter(pk__gt=last, program__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            return
        Commission.objects.filter(pk__in=ids).update(program_id=program_of)
        last = ids[-1]


class Migration(migrations.Migration):
    atomic = False  # each batch of the backfill commits on its own

    dependencies = [
        ("affiliates", "0012_imports"),
    ]

    operations = [
        migrations.AddField(
            model_name="program",
            name="rules",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="program",
            name="status",
            field=models.CharField(
                choices=[("active", "Active"), ("archived", "Archived")], default="active", max_length=10
            ),
        ),
        migrations.AddField(
            model_name="program",
            name="slug",
            field=models.CharField(default="affiliates", max_length=60),
            preserve_default=False,
        ),
        migrations.RunPython(fill_slugs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="program",
            constraint=models.UniqueConstraint(fields=("merchant", "slug"), name="uniq_program_slug"),
        ),
        migrations.AddConstraint(
            model_name="program",
            constraint=models.CheckConstraint(
                condition=models.Q(("slug__regex", "^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")),
                name="program_slug_format",
            ),
        ),
        migrations.AddConstraint(
            model_name="program",
            constraint=models.CheckConstraint(
                condition=models.Q(("is_default", True), ("status", "archived"), _negated=True),
                name="program_default_not_archived",
            ),
        ),
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
                ],
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="commission",
            name="rule_type",
            field=models.CharField(
                choices=[
                    ("percent", "Percentage"),
                    ("fixed", "Fixed amount"),
                    ("exclude", "Nothing (excluded)"),
                    ("mixed", "Per line"),
                ],
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="commission",
            name="rule_index",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="commission",
            name="rule_description",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="commission",
            name="lines",
            field=models.JSONField(blank=True, default=list),
        ),
        # The state first, so the column's RunPython (and its reverse) sees the field.
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddField(model_name="commission", name="program", field=PROGRAM_FIELD)],
        ),
        migrations.RunPython(add_program_column, drop_program_column),
        migrations.RunPython(backfill_programs, migrations.RunPython.noop),
        migrations.RunPython(validate_program_column, migrations.RunPython.noop),
    ]
