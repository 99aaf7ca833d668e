"""A bare `celery -A afficone worker` outlives Redis being killed under load, and every event is processed once.

The production shape in miniature: a private `redis-server` (no persistence, so a kill loses everything queued),
gunicorn serving the real webhook, and a worker started with no options but its log level, all on the test
database. While signed events are posted to the webhook and drainers are asked for as the periodic sweep asks, Redis
is killed with SIGKILL and restarted on the same port, eight times (the crash afficone/broker.py mends came on about
one outage in nine). The worker must still be running, must consume again after each return, and every event posted
(during the outages too: they are stored first) must end processed with exactly one commission.
"""

import contextlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
from celery import Celery

from affiliates.models import Commission
from stripe_integration.models import StripeEvent
from tests.conftest import ARTIFACTS, requires_real_stack, stack_env, wait_for
from tests.factories import ReferralFactory
from tests.processes import free_port, start, start_web, stop
from tests.stripe_events import checkout_session, make_event, post_event

pytestmark = pytest.mark.worker

OUTAGES = 8
DRAIN_TASK = "stripe_integration.tasks.drain_stripe_events_task"


class RedisServer:
    """A redis-server of the test's own on a fixed port: `kill` is SIGKILL, `start` brings it back on that port."""

    def __init__(self, directory):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        wait_for(lambda: _answers(client), timeout=10, interval=0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def stack(transactional_db, tmp_path):
    """(redis server, webhook base URL, worker process, worker log path)."""
    requires_real_stack()
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: the broker outage test starts a Redis of its own")
    ARTIFACTS.mkdir(exist_ok=True)
    server = RedisServer(tmp_path)
    server.start()
    env = stack_env(server.url)
    processes = []
    probe = Celery("probe", broker=server.url, set_as_current=False)
    try:
        web, base = start_web(env, "broker-outage-web.log")
        processes.append(web)
        worker = start(
            [sys.executable, "-m", "celery", "-A", "afficone", "worker", "-l", "INFO"], env, "broker-outage-worker.log"
        )
        processes.append(worker)
        wait_for(lambda: worker.poll() is not None or probe.control.ping(timeout=0.5), timeout=30)
        assert worker.poll() is None, "the worker exited at start; see test-artifacts/broker-outage-worker.log"
        yield server, base, worker, ARTIFACTS / "broker-outage-worker.log"
    finally:
        probe.close()
        for proc in processes:
            stop(proc)
        if server.proc and server.proc.poll() is None:
            server.kill()


class Load:
    """Signed checkouts posted to the webhook every 25 ms, and a drainer asked for every 10 ms as the periodic sweep
    asks (straight to the broker, without a slot): the worker always holds unacknowledged messages. Both stop by
    themselves after two minutes."""

    def __init__(self, base: str, broker_url: str, account: str, rid: str):
        self.base, self.account, self.rid = base, account, rid
        self.sender = Celery("load", broker=broker_url, set_as_current=False)
        self.stop = threading.Event()
        self.posted: list[tuple[str, str, int]] = []  # (event id, payment intent, webhook status)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._post, daemon=True), threading.Thread(target=self._ask)]

    def post_one(self) -> str:
        session = checkout_session(client_reference_id=self.rid)
        event = make_event("checkout.session.completed", session, account=self.account)
        try:
            status, _ = post_event(self.base, event)
        except OSError:
            status = 0
        with self.lock:
            self.posted.append((event["id"], session["payment_intent"], status))
        return event["id"]

    def _post(self) -> None:
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.post_one()
            time.sleep(0.025)

    def _ask(self) -> None:
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # Redis is down: the sweep would ask again a minute later
                self.sender.send_task(DRAIN_TASK, args=[None], retry=False)
            time.sleep(0.01)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.sender.close()


def _processed(ids) -> int:
    return StripeEvent.objects.filter(stripe_id__in=ids, status=StripeEvent.Status.PROCESSED).count()


def test_the_worker_outlives_redis_killed_under_load_and_processes_every_event_once(stack, merchant, affiliate):
    server, base, worker, log = stack
    referral = ReferralFactory(affiliate=affiliate)

    with Load(base, server.url, merchant.stripe_account_id, referral.rid) as load:
        wait_for(lambda: _processed([e for e, _, _ in load.posted]) >= 20, timeout=30)
        for _ in range(OUTAGES):
            server.kill()
            time.sleep(1.0)
            assert worker.poll() is None, "the worker exited with Redis down; see " + str(log)
            server.start()
            # The worker consumes again: an event posted now (asking for a drainer on the new Redis) is processed.
            marker = load.post_one()
            wait_for(lambda marker=marker: _processed([marker]), timeout=60)
            time.sleep(1.0)  # load on the new connection before the next kill
    last = load.post_one()
    wait_for(lambda: _processed([last]), timeout=60)

    ids = [event_id for event_id, _, _ in load.posted]
    wait_for(lambda: _processed(ids) == len(ids), timeout=60)
    assert worker.poll() is None
    text = log.read_text(errors="replace")
    assert text.count("Connection to broker lost") >= OUTAGES  # each kill reached the worker
    assert "Unrecoverable error" not in text
    # The webhook stored every event, during the outages too; each one earned exactly one commission.
    assert {status for _, _, status in load.posted} == {200}
    assert len(ids) > 200
    commissions = Commission.objects.for_merchant(merchant)
    assert commissions.count() == len(ids)
    assert set(commissions.values_list("source_id", flat=True)) == {pi for _, pi, _ in load.posted}
    assert set(commissions.values_list("amount", flat=True)) == {2000}
