"""Migrations carry the dependencies they need, so no order of migrating the apps breaks a database.

- Statically: a migration that reads or writes another model (`apps.get_model(...)`, or its table named in SQL) runs
  after the migration that creates that model, through its declared dependencies.
- For real: on empty databases, each app migrated first and alone (then the rest), and all of them in the reverse
  of INSTALLED_APPS; then a merchant made by `createmerchant` gets every dashboard page (fresh processes, on the
  suite's own database server: Postgres, or SQLite files in the fallback).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import CreateModel

ROOT = Path(__file__).resolve().parent.parent
APPS = ["tenants", "affiliates", "tracking", "stripe_integration"]
GET_MODEL = re.compile(r"""get_model\(\s*["'](\w+)["']\s*,\s*["'](\w+)["']""")


def _loader() -> MigrationLoader:
    return MigrationLoader(None, ignore_no_migrations=True)


def _creators(loader: MigrationLoader) -> dict[tuple[str, str], tuple[str, str]]:
    """(app label, model name lower-cased) → the migration that creates it."""
    made = {}
    for key, migration in loader.disk_migrations.items():
        for operation in migration.operations:
            if isinstance(operation, CreateModel):
                made[key[0], operation.name.lower()] = key
    return made


def _references(source: str) -> set[tuple[str, str]]:
    """The models a migration's module names: through apps.get_model(), or by their table in SQL."""
    found = {(app, model.lower()) for app, model in GET_MODEL.findall(source)}
    for model in apps.get_models():
        if re.search(rf"\b{re.escape(model._meta.db_table)}\b", source):
            found.add((model._meta.app_label, model._meta.model_name))
    return found


def test_every_model_a_migration_uses_is_created_by_one_of_its_ancestors():
    loader = _loader()
    creators = _creators(loader)
    missing = []
    for key, migration in sorted(loader.disk_migrations.items()):
        if key[0] not in APPS:
            continue
        source = Path(sys.modules[migration.__module__].__file__).read_text()
        ancestors = set(loader.graph.forwards_plan(key))
        for reference in _references(source):
            creator = creators.get(reference)
            if creator is not None and creator not in ancestors:
                missing.append(f"{key[0]}.{key[1]} uses {reference[0]}.{reference[1]} but runs before {creator}")
    assert missing == []


def test_the_static_check_sees_get_model_and_sql_table_names():
    source = 'apps.get_model("affiliates", "Commission")\nSQL = "UPDATE tracking_click SET x = 1"'
    assert {("affiliates", "commission"), ("tracking", "click")} <= _references(source)


PROBE = """
import io, json, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
for app in sys.argv[1:]:
    call_command("migrate", app, interactive=False, verbosity=0)
call_command("migrate", interactive=False, verbosity=0)
call_command("migrate", check_unapplied=True, interactive=False, verbosity=0)
out = io.StringIO()
call_command("createmerchant", "--email", "owner@order.test", "--name", "Order Shop", "--password", "plum-kettle-47",
             stdout=out)
from tenants.models import User
client = Client()
client.force_login(User.objects.get(email="owner@order.test"))
pages = ["overview", "onboarding", "affiliate_list", "commission_list", "payout_list", "programs", "settings"]
print(json.dumps({name: client.get(reverse("affiliates:" + name)).status_code for name in pages}))
"""
ORDERS = {**{f"{app}-first": [app] for app in APPS}, "reversed": APPS[::-1]}


@pytest.fixture
def empty_databases(tmp_path):
    """A DATABASE_URL per order, each naming an empty database; dropped afterwards."""
    settings = connection.settings_dict
    if connection.vendor != "postgresql":
        yield {order: f"sqlite:///{tmp_path / (order + '.sqlite3')}" for order in ORDERS}
        return
    names = {order: f"{settings['NAME']}_order_{i}" for i, order in enumerate(ORDERS)}
    server = dict(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
    )
    credentials = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        for name in names.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    yield {order: f"postgres://{credentials}@{server['host']}:{server['port']}/{name}" for order, name in names.items()}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        for name in names.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_any_app_migrated_first_then_the_rest_gives_a_working_dashboard(empty_databases):
    base = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "afficone.settings.test",
    }
    procs = {
        order: subprocess.Popen(
            [sys.executable, "-c", PROBE, *ORDERS[order]],
            cwd=ROOT,
            env=base | {"DATABASE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order, url in empty_databases.items()
    }
    for order, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (order, err[-3000:])
        statuses = json.loads(out.strip().splitlines()[-1])
        assert set(statuses.values()) == {200}, (order, statuses)
