"""A commission's rule in named fields instead of one packed string ("program:percent:2000bps").

`rule` was only ever written as "<source>:<type>:<value>", the value "<bps>bps" for a percentage or "<amount>
<currency>" for a fixed amount, whose currency is the commission's. Both directions convert every row, in batches
of ids each committed on its own (the migration is not atomic), so no transaction holds the table's rows for long;
the new columns carry no CHECK constraint, which adding would make Postgres verify against every row under the
table's lock (afficone/online_migrations.py). A string in another shape stops the migration rather than being
guessed at.
"""

from collections import defaultdict

from django.db import migrations, models

BATCH = 5000


def parse_rule(rule: str) -> dict:
    source, kind, value = (rule.split(":", 2) + ["", ""])[:3]
    if source in ("program", "affiliate") and kind == "percent" and value.endswith("bps"):
        return {
            "rule_source": source,
            "rule_type": kind,
            "rule_bps": int(value.removesuffix("bps")),
            "rule_amount": None,
        }
    if source in ("program", "affiliate") and kind == "fixed" and value.split(" ")[0].isdigit():
        return {"rule_source": source, "rule_type": kind, "rule_bps": None, "rule_amount": int(value.split(" ")[0])}
    raise ValueError(f"A commission's rule {rule!r} is not in the shape this migration converts.")


def label(source: str, kind: str, bps, amount, currency: str) -> str:
    value = f"{bps}bps" if kind == "percent" else f"{amount} {currency}"
    return f"{source}:{kind}:{value}"


def _batches(Commission):
    last = 0
    while True:
        ids = list(Commission.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return
        yield ids
        last = ids[-1]


def forwards(apps, schema_editor):
    Commission = apps.get_model("affiliates", "Commission")
    for ids in _batches(Commission):
        by_rule = defaultdict(list)
        for pk, rule in Commission.objects.filter(pk__in=ids).values_list("pk", "rule"):
            by_rule[rule].append(pk)
        for rule, pks in by_rule.items():
            Commission.objects.filter(pk__in=pks).update(**parse_rule(rule))


def backwards(apps, schema_editor):
    Commission = apps.get_model("affiliates", "Commission")
    for ids in _batches(Commission):
        by_label = defaultdict(list)
        rows = Commission.objects.filter(pk__in=ids).values_list(
            "pk", "rule_source", "rule_type", "rule_bps", "rule_amount", "currency"
        )
        for pk, *rule in rows:
            by_label[label(*rule)].append(pk)
        for text, pks in by_label.items():
            Commission.objects.filter(pk__in=pks).update(rule=text)


class Migration(migrations.Migration):
    atomic = False  # each batch commits on its own

    dependencies = [
        ("affiliates", "0009_fewer_commission_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="commission",
            name="rule_source",
            field=models.CharField(
                choices=[("program", "Program"), ("affiliate", "Affiliate override")], default="program", max_length=10
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="commission",
            name="rule_type",
            field=models.CharField(
                choices=[("percent", "Percentage"), ("fixed", "Fixed amount")], default="percent", max_length=10
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="commission",
            name="rule_bps",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="commission",
            name="rule_amount",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(forwards, backwards),
        # Backwards, `rule` comes back with a default for the rows that exist, before `backwards` fills it.
        migrations.AlterField(
            model_name="commission",
            name="rule",
            field=models.CharField(default="", max_length=100),
        ),
        migrations.RemoveField(
            model_name="commission",
            name="rule",
        ),
    ]
