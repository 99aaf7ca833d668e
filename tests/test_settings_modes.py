"""Both settings modes, each in a fresh process with a controlled environment.

No environment: SQLite, eager tasks, DEBUG on, a development key.
DATABASE_URL: PostgreSQL (psycopg 3). REDIS_URL: Redis cache and Celery broker.
DEBUG off: the secrets are required, and `check --deploy` is clean.
"""

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, django
django.setup()
from django.conf import settings
from afficone.celery import app
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""),
    "debug": settings.DEBUG, "secret_key": settings.SECRET_KEY,
    "cache": settings.CACHES["default"]["BACKEND"], "cache_location": settings.CACHES["default"].get("LOCATION", ""),
    "broker": app.conf.broker_url, "eager": app.conf.task_always_eager,
    "email": settings.EMAIL_BACKEND,
}))
"""


SECRET = secrets.token_urlsafe(50)
DEPLOY_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": SECRET,
    "STRIPE_SECRET_KEY": "sk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "ALLOWED_HOSTS": "afficone.example.com",
    "DATABASE_URL": "postgres://afficone@db.internal:5432/afficone",
    "REDIS_URL": "redis://cache.internal:6379/0",
}
CASES = {
    "default": (["-c", PROBE], {}),
    "postgres": (["-c", PROBE], {"DATABASE_URL": "postgres://afficone:pw@db.internal:5432/afficone"}),
    "redis": (["-c", PROBE], {"REDIS_URL": "redis://cache.internal:6379/3"}),
    "no_secrets": (["manage.py", "check"], {"DEBUG": "false"}),
    "one_secret_missing": (
        ["manage.py", "check"],
        {"DEBUG": "false", "SECRET_KEY": SECRET, "STRIPE_SECRET_KEY": "sk_live_x"},
    ),
    "deploy": (["manage.py", "check", "--deploy", "--fail-level", "WARNING"], DEPLOY_ENV),
}


@pytest.fixture(scope="module")
def results() -> dict[str, subprocess.CompletedProcess]:
    """Starts every case at once (each is a fresh Python process) and collects them."""
    # A clean environment: nothing from the test run (DATABASE_URL, REDIS_URL, DJANGO_SETTINGS_MODULE) leaks in.
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(ROOT), "DJANGO_SETTINGS_MODULE": "afficone.settings"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=base | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, (args, env) in CASES.items()
    }
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def probe(results, name: str) -> dict:
    result = results[name]
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_environment_runs_the_embedded_default(results):
    found = probe(results, "default")
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"] == str(ROOT / "db.sqlite3")
    assert found["eager"] is True and found["debug"] is True
    assert found["secret_key"].startswith("dev-insecure")
    assert found["cache"].endswith("LocMemCache")
    assert found["email"].endswith("console.EmailBackend")


def test_database_url_switches_to_postgres(results):
    found = probe(results, "postgres")
    assert found["engine"] == "django.db.backends.postgresql"
    assert found["name"] == "afficone" and found["host"] == "db.internal"


def test_redis_url_switches_cache_and_broker_and_turns_eager_off(results):
    found = probe(results, "redis")
    assert found["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert found["cache_location"] == "redis://cache.internal:6379/3"
    assert found["broker"] == "redis://cache.internal:6379/3"
    assert found["eager"] is False


def test_debug_off_refuses_to_start_without_the_secrets_and_names_them(results):
    result = results["no_secrets"]
    assert result.returncode != 0
    for name in ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        assert name in result.stderr
    result = results["one_secret_missing"]
    assert result.returncode != 0
    assert "required: STRIPE_WEBHOOK_SECRET (" in result.stderr


def test_debug_off_with_the_secrets_passes_the_deploy_check(results):
    result = results["deploy"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
