"""Migration 0013 (programs and rules) on a database with data: existing programs get a signup address, existing
commissions their affiliate's program (in batches), and it runs back."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

migration = importlib.import_module("affiliates.migrations.0013_programs_and_rules")

BEFORE = [("affiliates", "0012_imports")]
AFTER = [("affiliates", "0013_programs_and_rules")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    # Every other app stays at its latest migration: the models built here must match the tables as they are.
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "affiliates"]
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state([*targets, *others]).apps


@pytest.mark.django_db(transaction=True)
def test_programs_get_an_address_and_commissions_their_program(monkeypatch):
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches for five commissions
    try:
        apps = _migrate(BEFORE)
        Merchant = apps.get_model("tenants", "Merchant")
        Program = apps.get_model("affiliates", "Program")
        Affiliate = apps.get_model("affiliates", "Affiliate")
        Commission = apps.get_model("affiliates", "Commission")
        shops = [Merchant.objects.create(name=f"Shop {n}", slug=f"old-shop-{n}") for n in range(2)]
        programs = [Program.objects.create(merchant=shop) for shop in shops]
        affiliates = [
            Affiliate.objects.create(merchant=shop, program=program, code="old", email=f"old{n}@example.net")
            for n, (shop, program) in enumerate(zip(shops, programs, strict=True))
        ]
        for n in range(5):
            affiliate = affiliates[n % 2]
            Commission.objects.create(
                merchant_id=affiliate.merchant_id,
                affiliate=affiliate,
                amount=100,
                currency="usd",
                base_amount=1000,
                source_type="invoice",
                source_id=f"in_old_{n}",
                rule_source="program",
                rule_type="percent",
                rule_bps=2000,
                hold_until="2030-01-01T00:00:00Z",
            )

        apps = _migrate(AFTER)
        Program, Commission = apps.get_model("affiliates", "Program"), apps.get_model("affiliates", "Commission")
        assert [(p.slug, p.status, p.rules, p.is_default) for p in Program.objects.all()] == [
            ("affiliates", "active", [], True)
        ] * 2
        assert {c.source_id: c.program_id for c in Commission.objects.all()} == {
            f"in_old_{n}": programs[n % 2].pk for n in range(5)
        }
        assert set(Commission.objects.values_list("rule_index", "rule_description")) == {(None, "")}

        Commission = _migrate(BEFORE).get_model("affiliates", "Commission")
        assert Commission.objects.count() == 5
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
