"""A commission's rule in named fields: the migration converts existing rows both ways, and the API and the export
still show the rule as one string ("program:percent:2000bps")."""

import csv
import io

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from tenants.services import create_api_key
from tests.factories import CommissionFactory

BEFORE = [("affiliates", "0009_fewer_commission_indexes")]
AFTER = [("affiliates", "0010_commission_rule_fields")]
RULES = [
    ("program:percent:2000bps", "usd", ("program", "percent", 2000, None)),
    ("affiliate:percent:2500bps", "usd", ("affiliate", "percent", 2500, None)),
    ("affiliate:fixed:1500 usd", "usd", ("affiliate", "fixed", None, 1500)),
    ("program:fixed:500 jpy", "jpy", ("program", "fixed", None, 500)),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    # Every other app stays at its latest migration: the models built here must match the tables as they are.
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "affiliates"]
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state([*targets, *others]).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_every_rule_and_back():
    try:
        apps = _migrate(BEFORE)
        merchant = apps.get_model("tenants", "Merchant").objects.create(name="Old Shop", slug="old-shop")
        program = apps.get_model("affiliates", "Program").objects.create(merchant=merchant)
        affiliate = apps.get_model("affiliates", "Affiliate").objects.create(
            merchant=merchant, program=program, code="old", email="old@example.net"
        )
        Commission = apps.get_model("affiliates", "Commission")
        written = {
            Commission.objects.create(
                merchant=merchant,
                affiliate=affiliate,
                amount=100,
                currency=currency,
                base_amount=1000,
                source_type="payment_intent",
                source_id=f"pi_old_{n}",
                rule=rule,
                hold_until="2030-01-01T00:00:00Z",
            ).pk: (rule, fields)
            for n, (rule, currency, fields) in enumerate(RULES)
        }

        Commission = _migrate(AFTER).get_model("affiliates", "Commission")
        converted = {
            pk: (source, kind, bps, amount)
            for pk, source, kind, bps, amount in Commission.objects.values_list(
                "pk", "rule_source", "rule_type", "rule_bps", "rule_amount"
            )
        }
        assert converted == {pk: fields for pk, (_, fields) in written.items()}

        Commission = _migrate(BEFORE).get_model("affiliates", "Commission")
        assert dict(Commission.objects.values_list("pk", "rule")) == {pk: rule for pk, (rule, _) in written.items()}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_the_api_and_the_export_show_the_rule_as_before(client, merchant_client, merchant, affiliate):
    percent = CommissionFactory(referral__affiliate=affiliate, source_id="pi_percent")
    fixed = CommissionFactory(
        referral__affiliate=affiliate,
        source_id="pi_fixed",
        currency="eur",
        rule_source="affiliate",
        rule_type="fixed",
        rule_bps=None,
        rule_amount=1500,
    )
    _, key = create_api_key(merchant, name="test")
    for commission, rule in ((percent, "program:percent:2000bps"), (fixed, "affiliate:fixed:1500 eur")):
        response = client.get(f"/api/v1/commissions/{commission.public_id}", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200 and response.json()["rule"] == rule
    response = merchant_client.get(reverse("affiliates:commission_list") + "?format=csv")
    rows = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert {row["source_id"]: row["rule"] for row in rows} == {
        "pi_percent": "program:percent:2000bps",
        "pi_fixed": "affiliate:fixed:1500 eur",
    }
