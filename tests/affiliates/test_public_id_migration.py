"""Renaming the public UUIDs to `public_id` keeps every id: links and API ids given out before still work."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("affiliates", "0010_commission_rule_fields"), ("tenants", "0004_merchant_proxy_secret")]
AFTER = [("affiliates", "0011_public_id"), ("tenants", "0005_public_id")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    # Every other app stays at its latest migration: the models built here must match the tables as they are.
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in ("affiliates", "tenants")]
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state([*targets, *others]).apps


@pytest.mark.django_db(transaction=True)
def test_every_public_id_survives_the_rename_both_ways():
    try:
        apps = _migrate(BEFORE)
        ids = {name: uuid.uuid4() for name in ("merchant", "program", "affiliate", "membership", "key")}
        merchant = apps.get_model("tenants", "Merchant").objects.create(
            name="Old Shop", slug="old-shop", code=ids["merchant"]
        )
        user = apps.get_model("tenants", "User").objects.create(email="owner@old.example")
        apps.get_model("tenants", "Membership").objects.create(merchant=merchant, user=user, code=ids["membership"])
        apps.get_model("tenants", "ApiKey").objects.create(
            merchant=merchant, name="k", prefix="afk_", hashed_key="x" * 64, code=ids["key"]
        )
        program = apps.get_model("affiliates", "Program").objects.create(merchant=merchant, code=ids["program"])
        apps.get_model("affiliates", "Affiliate").objects.create(
            merchant=merchant, program=program, code="old", email="old@example.net", uid=ids["affiliate"]
        )

        def public_ids(apps, field):
            return {
                "merchant": apps.get_model("tenants", "Merchant").objects.values_list(field, flat=True).get(),
                "membership": apps.get_model("tenants", "Membership").objects.values_list(field, flat=True).get(),
                "key": apps.get_model("tenants", "ApiKey").objects.values_list(field, flat=True).get(),
                "program": apps.get_model("affiliates", "Program").objects.values_list(field, flat=True).get(),
            }

        apps = _migrate(AFTER)
        assert public_ids(apps, "public_id") == {k: v for k, v in ids.items() if k != "affiliate"}
        affiliate = apps.get_model("affiliates", "Affiliate").objects.get()
        assert (affiliate.public_id, affiliate.code) == (ids["affiliate"], "old")

        apps = _migrate(BEFORE)
        assert public_ids(apps, "code") == {k: v for k, v in ids.items() if k != "affiliate"}
        assert apps.get_model("affiliates", "Affiliate").objects.values_list("uid", flat=True).get() == ids["affiliate"]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
