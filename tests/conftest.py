"""Shared fixtures: tenants, logged-in clients, real Chromium, a real Celery worker.

The suite runs on Postgres and the Redis broker when DATABASE_URL and
REDIS_URL are set (`make test` sets them when the services are reachable) and
falls back to SQLite and eager tasks otherwise, saying so in the header.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from affiliates.services import create_default_program

from .factories import PASSWORD, AffiliateFactory, MembershipFactory, MerchantFactory, UserFactory
from .fake_stripe import fake_stripe  # noqa: F401  (fixture: a local server speaking Stripe's API)

# Playwright's sync API runs an event loop in the test thread; the ORM calls tests make beside it are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def on_real_stack() -> tuple[bool, bool]:
    db = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    return db, bool(settings.REDIS_URL)


def pytest_report_header(config):
    db, redis = on_real_stack()
    lines = [
        "afficone: database = " + ("PostgreSQL" if db else "SQLite (FALLBACK: PostgreSQL not configured)"),
        "afficone: broker = "
        + ("Redis " + settings.REDIS_URL if redis else "none (FALLBACK: eager tasks, no worker tests)"),
    ]
    return lines


@pytest.fixture(autouse=True)
def _stripe_is_the_fake(request):
    """No test reaches Stripe's servers: every StripeClient call goes to the local fake, which answers 404 for what
    the test did not put there (handlers read customers, subscriptions, invoices and products where an event names
    them only by id). A test arranging objects asks for `fake_stripe` and gets this same one."""
    request.getfixturevalue("fake_stripe")


@pytest.fixture
def merchant(db):
    merchant = MerchantFactory(name="Acme Analytics")
    create_default_program(merchant)
    return merchant


@pytest.fixture
def other_merchant(db):
    merchant = MerchantFactory(name="Globex")
    create_default_program(merchant)
    return merchant


@pytest.fixture
def owner(merchant):
    return MembershipFactory(merchant=merchant).user


@pytest.fixture
def other_owner(other_merchant):
    return MembershipFactory(merchant=other_merchant).user


@pytest.fixture
def affiliate(merchant):
    return AffiliateFactory(merchant=merchant, program=merchant.programs.get(is_default=True), code="alice")


@pytest.fixture
def merchant_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def user_factory(db):
    return UserFactory


# --- real Chromium ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; nothing downloads a browser."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Saves a full-page screenshot under test-artifacts/screenshots/ (named in README)."""
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


# --- a real Celery worker -----------------------------------------------------------------------------------------


def requires_real_stack():
    db, redis = on_real_stack()
    if not (db and redis):
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL); `make test` sets them when reachable")


def stack_env(redis_url: str, **env: str) -> dict[str, str]:
    """The environment of a process of the production shape (a worker, gunicorn) started by a test: the test
    database, the Redis at `redis_url`, tasks sent to the broker, with `env` on top."""

    db_settings = connection.settings_dict
    db_url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(
        USER=db_settings["USER"] or "postgres",
        HOST=db_settings["HOST"] or "127.0.0.1",
        PORT=db_settings["PORT"] or 5432,
        NAME=db_settings["NAME"],
    )
    if db_settings.get("PASSWORD"):
        db_url = db_url.replace("@", f":{db_settings['PASSWORD']}@", 1)
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="afficone.settings.test",
        DATABASE_URL=db_url,
        TEST_DATABASE_NAME="",
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        CONN_MAX_AGE="0",
        **env,
    )


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real `celery -A afficone worker` process on the Redis broker, against the test database.

    Tasks enqueued while it runs go through Redis to that process; the test
    waits for their effects in the database.
    """
    requires_real_stack()
    import redis as redis_lib

    redis_lib.Redis.from_url(settings.REDIS_URL).flushdb()
    proc = start_celery_worker(settings)
    try:
        yield proc
    finally:
        stop_celery_worker(proc)


def start_celery_worker(settings, **env: str) -> subprocess.Popen:
    """Starts a real worker (solo pool) on the test database and the Redis broker, with `env` on top of the test
    environment, and returns once it answers a ping; tasks enqueued from here on go to it. Stop it with
    `stop_celery_worker`."""
    from afficone.celery import app

    log = (ARTIFACTS / "celery-worker.log").open("ab") if ARTIFACTS.exists() else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "afficone",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ],
        cwd=ROOT,
        env=stack_env(settings.REDIS_URL, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    app.conf.task_always_eager = False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if app.control.ping(timeout=0.5):
                return proc
        except Exception:  # broker warming up
            pass
        if proc.poll() is not None:
            stop_celery_worker(proc)
            pytest.fail("the Celery worker exited at start; see test-artifacts/celery-worker.log")
    stop_celery_worker(proc)
    pytest.fail("the Celery worker did not answer a ping within 30 s")


def stop_celery_worker(proc: subprocess.Popen, *, kill: bool = False) -> None:
    """Stops a worker from `start_celery_worker`: a warm shutdown (SIGTERM), or `kill` -9 at once, as a crash or
    the OOM killer would; tasks are eager again for the rest of the test."""
    from afficone.celery import app

    app.conf.task_always_eager = True
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Polls `predicate` until it returns a truthy value; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")
