"""Webhooks to the merchant's systems: delivery rate and the cost of emitting events (run by hand; prints figures and
ratios, asserts nothing).

    .venv/bin/python bench/webhooks_delivery.py [--deliveries 1500] [--events 400] [--rounds 3]

delivery  one worker host (celery prefork, one process per CPU, the same command as bench/stripe_webhook.py's) sends
          a backlog of --deliveries signed deliveries to a local receiver (a threading HTTP server in this process,
          answering 200 at once), against the same number of Celery no-op tasks, in the same run, with the same pool:
          deliveries per second and the ratio (target at least 50% of the no-op rate).
emission  in one process, attributed checkouts processed as a drainer does, in interleaved rounds (median): for a
          merchant with no endpoint, and for one whose endpoint takes every event type (each checkout then writes a
          referral.created and a commission.created event with their deliveries, and enqueues them): the ratio is
          what emitting leaves of the attributed-events rate (target: emitting costs under 10%).

Needs PostgreSQL and Redis on 127.0.0.1 (database `bench_afficone_hooks`, created and migrated when missing; Redis
database 3, flushed; AFFICONE_BENCH_REDIS_URL picks another).
"""

import argparse
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import migrated_database, production_env, stop

DB_NAME = "bench_afficone_hooks"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="delivery,emission")
    parser.add_argument("--deliveries", type=int, default=1500)
    parser.add_argument("--events", type=int, default=400, help="checkouts per emission round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--database-url", default=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    parser.add_argument("--redis-url", default=os.environ.get("AFFICONE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"))
    return parser.parse_args()


def env_of(args, **extra) -> dict:
    return production_env(
        "bench.stripe_settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        STRIPE_WEBHOOK_SECRET="whsec_bench",
        WEBHOOK_ALLOW_INSECURE_URLS="true",  # the receiver is on loopback
        CELERY_DB_REUSE_MAX="1000",
        **extra,
    )


def prepare(args):
    migrated_database(args.database_url, env_of(args))
    import django

    django.setup()
    from affiliates.onboarding import create_merchant
    from affiliates.services import create_affiliate
    from tenants.models import Merchant

    merchants = {}
    for slug in ("quiet", "hooked"):
        account = f"acct_bench_{slug}"
        merchant = Merchant.objects.filter(stripe_account_id=account).first()
        if merchant is None:
            merchant, _ = create_merchant(
                name=f"Bench {slug}", owner_email=f"bench-{slug}@example.com", stripe_account_id=account
            )
            create_affiliate(merchant, email=f"partner-{slug}@example.com", code="bench")
        merchants[slug] = merchant
    return merchants


class Receiver:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                with receiver.lock:
                    receiver.count += 1

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def bench_delivery(args, merchants) -> None:
    import redis
    from django.db import connection
    from stripe_webhook import start_worker

    from bench.stripe_tasks import noop_task
    from webhooks.events import write_event
    from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
    from webhooks.tasks import deliver_webhook_task

    receiver = Receiver()
    merchant = merchants["hooked"]
    WebhookEndpoint.objects.filter(merchant=merchant).delete()
    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url=receiver.url, events=[EventType.PAYOUT_PAID])
    r = redis.Redis.from_url(args.redis_url)
    n = args.deliveries

    def run(fill, done) -> float:
        r.flushdb()
        fill()
        connection.close()
        worker = start_worker(args, env_of(args), "bench-idle")
        try:
            from afficone.celery import app

            for i in range(4 * args.concurrency):  # warm every process before the clock starts
                noop_task.apply_async((i,), queue="bench-idle")
            while r.llen("bench-idle") or r.hlen("unacked"):
                time.sleep(0.05)
            time.sleep(0.5)
            started = time.monotonic()
            app.control.add_consumer("bench", reply=True, timeout=5, limit=1)
            while not done():
                time.sleep(0.02)
                if time.monotonic() - started > 300:
                    print("  (gave up after 300 s)")
                    break
            return time.monotonic() - started
        finally:
            stop(worker)

    noop_seconds = run(
        lambda: [noop_task.apply_async((i,), queue="bench") for i in range(n)],
        lambda: r.llen("bench") == 0 and r.hlen("unacked") == 0,
    )
    ids: list[int] = []

    def fill() -> None:
        ids.clear()
        for i in range(n):
            # Distinct objects: deliveries about one object go in order, one after the other (webhooks/delivery.py).
            obj = {"id": f"po_bench_{i}_{time.time_ns()}"}
            event = write_event(merchant.pk, EventType.PAYOUT_PAID, obj, [endpoint])
            ids.extend(WebhookDelivery.objects.filter(event=event).values_list("pk", flat=True))
        r.flushdb()  # the deliveries' own tasks were queued on commit to the default queue: queue them again below
        for pk in ids:
            deliver_webhook_task.apply_async((pk,), queue="bench")
        receiver.count = 0

    seconds = run(fill, lambda: receiver.count >= n)
    sent = WebhookDelivery.objects.filter(pk__in=ids, status="succeeded").count()
    print(
        f"[delivery] no-op tasks: {n} in {noop_seconds:.2f} s = {n / noop_seconds:.0f}/s; deliveries: {n} in "
        f"{seconds:.2f} s = {n / seconds:.0f}/s ({sent} succeeded, {receiver.count} received); "
        f"{noop_seconds / seconds:.0%} of the no-op rate (target >= 50%)"
    )


def bench_emission(args, merchants) -> None:
    from affiliates.models import Affiliate
    from affiliates.services import create_referral
    from stripe_integration import services
    from stripe_integration.models import StripeEvent
    from stripe_integration.services import sql
    from tests.stripe_events import checkout_session, make_event
    from webhooks.models import EventType, WebhookEndpoint

    quiet, hooked = merchants["quiet"], merchants["hooked"]
    WebhookEndpoint.objects.filter(merchant__in=[quiet, hooked]).delete()
    WebhookEndpoint.objects.create(merchant=hooked, url="https://hooks.example.com/afficone", events=EventType.values)
    StripeEvent.objects.filter(status=StripeEvent.Status.PENDING).update(status=StripeEvent.Status.IGNORED)
    rates: dict[str, list[float]] = {"no endpoint": [], "an endpoint taking every type": []}
    for _ in range(args.rounds):
        for label, merchant in (("no endpoint", quiet), ("an endpoint taking every type", hooked)):
            affiliate = Affiliate.objects.get(merchant=merchant, code="bench")
            for _ in range(args.events):
                payload = make_event(
                    "checkout.session.completed",
                    checkout_session(client_reference_id=create_referral(affiliate).rid),
                    account=merchant.stripe_account_id,
                )
                sql.insert_event_unless_stored(
                    StripeEvent(
                        stripe_id=payload["id"],
                        type=payload["type"],
                        account=payload["account"],
                        merchant=merchant,
                        payload=payload,
                    )
                )
            started, after, count = time.perf_counter(), 0, 0
            with services.asynchronous_commits():
                while (done := services.process_next_event(after=after)) is not None:
                    after, count = done[0], count + 1
            rates[label].append(count / (time.perf_counter() - started))
    base = statistics.median(rates["no endpoint"])
    for label, values in rates.items():
        median = statistics.median(values)
        print(
            f"[emission] attributed checkouts, {label}: {median:.0f}/s (rounds: "
            f"{', '.join(f'{v:.0f}' for v in values)}); {median / base:.0%} of the rate without"
        )


def main() -> None:
    args = parse_args()
    merchants = prepare(args)
    print(f"{os.cpu_count()} CPUs; load before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    parts = args.parts.split(",")
    if "delivery" in parts:
        bench_delivery(args, merchants)
    if "emission" in parts:
        bench_emission(args, merchants)


if __name__ == "__main__":
    main()
