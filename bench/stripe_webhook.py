"""Stripe webhook and attribution bench (run by hand; prints figures and ratios, asserts nothing).

    .venv/bin/python bench/stripe_webhook.py [--parts accept,worker,latency] [--seconds 6] [--rounds 3] [--events 1500]

accept   POST /stripe/webhook/ with distinct, validly signed checkout.session.completed events (Stripe's example
         object, about 3 KB) against a bare Django view taking the same POST behind the whole middleware stack, on the
         same gunicorn in the same run, with wrk: accepted events per second and the ratio (target >= 20% of the bare
         view). The webhook is answered ahead of the middleware (afficone/middleware.py), so the ratio against the
         bare view on that same fast path is printed too.
worker   one worker host (celery prefork, one process per CPU) attributing a backlog of stored events, asked for
         as the webhook asks (one request_drain() per event; stripe_integration/drainers.py): attributed events per
         second (each a checkout that earns a commission) against no-op Celery tasks per second, in the same run,
         with the same pool and concurrency (one process per core by default);
         twice, with Celery's default of closing the database connection around every task and with connections
         reused (CELERY_DB_REUSE_MAX, what the settings use), to show what that is worth.
latency  signed events posted to gunicorn at a steady 100 per second while a worker runs: time from the POST to the
         commission row, p50 and p99 (target p99 < 250 ms).

Needs PostgreSQL and Redis on 127.0.0.1 (as `make test` has them) and wrk (Debian's package). Uses the database
named in --database-url (default `bench_afficone_stripe`, created and migrated when missing) and Redis database 3
(flushed; AFFICONE_BENCH_REDIS_URL picks another).
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from harness import migrated_database, production_env, run_wrk, start_gunicorn, stop

sys.path.insert(0, str(ROOT))
DB_NAME = "bench_afficone_stripe"
SECRET = "whsec_bench"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="accept,worker,latency")
    parser.add_argument("--seconds", type=int, default=6, help="duration of each wrk run and of the latency run")
    parser.add_argument("--rounds", type=int, default=3, help="accept: rounds of bare view, fast path and webhook")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--events", type=int, default=1500, help="events (and no-op tasks) per worker run")
    parser.add_argument("--rate", type=int, default=100, help="events per second in the latency run")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 4)))
    # The webhook waits on each commit's fsync, so threads overlap those waits; workers x threads stays below
    # Postgres' max_connections (100 by default), as every thread keeps its own connection (CONN_MAX_AGE).
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 16)))
    # One prefork process per core (Celery's default): on 2 cores, 4 processes attributed fewer events per second
    # than 2, as they and Postgres compete for the same CPUs. The no-op baseline runs with the same pool and
    # concurrency (like with like).
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2, help="worker processes (both runs)")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--database-url", default=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    parser.add_argument("--redis-url", default=os.environ.get("AFFICONE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"))
    return parser.parse_args()


def base_env(args, **extra) -> dict:
    return production_env(
        "bench.stripe_settings",
        STRIPE_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        **extra,
    )


def prepare(args):
    """Creates and migrates the bench database when needed; returns (merchant, referral ids)."""
    migrated_database(args.database_url, base_env(args))
    import django

    django.setup()
    from affiliates.models import Affiliate, Referral
    from affiliates.onboarding import create_merchant
    from affiliates.services import create_affiliate, create_referral
    from tenants.models import Merchant

    merchant = Merchant.objects.filter(stripe_account_id="acct_bench").first()
    if merchant is None:
        merchant, _ = create_merchant(
            name="Bench Stripe Shop", owner_email="bench-stripe@example.com", stripe_account_id="acct_bench"
        )
    affiliate = Affiliate.objects.filter(merchant=merchant, code="bench").first() or create_affiliate(
        merchant, email="partner@example.com", code="bench"
    )
    referrals = list(Referral.objects.filter(affiliate=affiliate).values_list("rid", flat=True)[:50])
    while len(referrals) < 50:
        referrals.append(create_referral(affiliate).rid)
    return merchant, referrals


def checkout_event(merchant, rid: str) -> dict:
    from tests.stripe_events import checkout_session, make_event

    return make_event(
        "checkout.session.completed", checkout_session(client_reference_id=rid), account=merchant.stripe_account_id
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- processes ------------------------------------------------------------------------------------------------------


def start_web(args, env) -> subprocess.Popen:
    return start_gunicorn(
        port=args.port, workers=args.workers, threads=args.threads, env=env, extra=("--keep-alive", "5")
    )


def start_worker(args, env, queue: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "afficone",
        "worker",
        "--pool=prefork",
        f"--concurrency={args.concurrency}",
        "-Q",
        queue,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    from afficone.celery import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the Celery worker exited:\n" + proc.stderr.read().decode())
        try:
            if app.control.ping(timeout=0.5):
                return proc
        except Exception:  # broker warming up
            pass
    sys.exit("the Celery worker did not answer within 30 s")


# --- accept ---------------------------------------------------------------------------------------------------------


def wrk(args, path: str, seconds: int, events_file: str) -> dict:
    env = dict(os.environ, AFFICONE_BENCH_EVENTS=events_file, AFFICONE_BENCH_THREADS="2")
    return run_wrk(
        f"http://127.0.0.1:{args.port}{path}",
        seconds=seconds,
        connections=args.connections,
        script=str(ROOT / "bench" / "stripe_webhook.lua"),
        env=env,
    )


def write_events(merchant, referrals, count: int) -> str:
    """`count` distinct signed events in a file for wrk; one template, fresh ids per event (quick to write)."""
    from tests.stripe_events import encode, sign

    templates = [encode(checkout_event(merchant, rid)).decode() for rid in referrals]
    run = os.urandom(4).hex()
    with tempfile.NamedTemporaryFile("w", suffix=".events", delete=False) as handle:
        for i in range(count):
            template = templates[i % len(templates)]
            event = json.loads(template)
            body = template.replace(event["id"], f"evt_bench{run}{i:08d}").replace(
                event["data"]["object"]["payment_intent"], f"pi_bench{run}{i:08d}"
            )
            handle.write(f"{sign(body, secret=SECRET)}\t{body}\n")
    return handle.name


def bench_accept(args, merchant, referrals) -> None:
    import redis

    from stripe_integration.models import StripeEvent

    # Enough distinct events per round that wrk never wraps around at up to ~2,500 events/s (a repeat would be a
    # duplicate: acknowledged, not stored, and cheaper than a new event); a fresh file each round.
    count = 2500 * args.seconds + 5000
    started = time.monotonic()
    files = [write_events(merchant, referrals, count) for _ in range(args.rounds)]
    print(f"[accept] {args.rounds} x {count} signed events prepared in {time.monotonic() - started:.1f} s")
    server = start_web(args, base_env(args))
    rounds = []
    try:
        warm = write_events(merchant, referrals, 500)
        wrk(args, "/bench/bare/", 2, warm)
        wrk(args, "/bench/bare-fast/", 2, warm)
        wrk(args, "/stripe/webhook/", 2, warm)
        os.unlink(warm)
        for events_file in files:  # interleaved, so a burst of load from elsewhere hits one round, not one side
            bare = wrk(args, "/bench/bare/", args.seconds, events_file)
            fast = wrk(args, "/bench/bare-fast/", args.seconds, events_file)
            before = StripeEvent.objects.count()
            hook = wrk(args, "/stripe/webhook/", args.seconds, events_file)
            hook["stored"] = StripeEvent.objects.count() - before
            accepted = hook["requests"] - hook["non2xx"]
            hook["accepted_rate"] = hook["rps"] * accepted / max(hook["requests"], 1)  # only 2xx answers count
            rounds.append((bare, fast, hook))
    finally:
        stop(server)
        for events_file in files:
            os.unlink(events_file)
        redis.Redis.from_url(args.redis_url).flushdb()  # the drainers asked for: no worker ran in this part
        set_aside_pending()

    def row(label, runs, rate=lambda run: run["rps"]):
        cells = "   ".join(f"{rate(r):6.0f}/s p50 {r['p50']:6.1f} p99 {r['p99']:6.1f} ms" for r in runs)
        print(f"[accept] {label:22s} {cells}")

    row("bare view", [b for b, _, _ in rounds])
    row("bare view, fast path", [f for _, f, _ in rounds])
    row("webhook (accepted)", [h for _, _, h in rounds], lambda h: h["accepted_rate"])
    hooks = [h for _, _, h in rounds]
    print(
        f"[accept] webhook: non-2xx {sum(h['non2xx'] for h in hooks)}; {sum(h['stored'] for h in hooks)} new events "
        f"stored for {sum(h['requests'] - h['non2xx'] for h in hooks)} answered (requests in flight when wrk stops "
        f"are stored but not counted)"
    )
    ratios = sorted(h["accepted_rate"] / b["rps"] for b, _, h in rounds)
    fast_ratios = sorted(h["accepted_rate"] / f["rps"] for _, f, h in rounds)
    print(
        f"[accept] webhook/bare: median {statistics.median(ratios):.0%} over {len(rounds)} rounds "
        f"(range {ratios[0]:.0%}-{ratios[-1]:.0%}; target >= 20%; a naive view ~10% here); "
        f"webhook / bare view on the same fast path: median {statistics.median(fast_ratios):.0%}"
    )


def set_aside_pending() -> None:
    """Marks the events a part stored but did not process as ignored, so the next part's drainers do not start on
    them (they would: drainers take every pending event)."""
    from stripe_integration.models import StripeEvent

    StripeEvent.objects.filter(status=StripeEvent.Status.PENDING).update(status=StripeEvent.Status.IGNORED)


# --- worker ---------------------------------------------------------------------------------------------------------


def drain(args, env, queue: str, fill, done) -> float:
    """Fills `queue`, then lets a fresh worker consume it; seconds from the first task to the last."""
    import redis

    r = redis.Redis.from_url(args.redis_url)
    r.flushdb()
    fill()
    worker = start_worker(args, dict(env), "bench-idle")
    try:
        from afficone.celery import app
        from bench.stripe_tasks import noop_task
        from stripe_integration.tasks import process_stripe_event_task

        # Warm every worker process (imports, its database connection) before the clock starts. (Not with a drainer:
        # it would start on the backlog.)
        for i in range(4 * args.concurrency):
            noop_task.apply_async((i,), queue="bench-idle")
            process_stripe_event_task.apply_async((0,), queue="bench-idle")
        while r.llen("bench-idle") or r.hlen("unacked"):
            time.sleep(0.05)
        time.sleep(0.5)
        started = time.monotonic()
        app.control.add_consumer(queue, reply=True, timeout=5, limit=1)  # returns at the first reply
        while not done(r):
            time.sleep(0.02)
            if time.monotonic() - started > 300:
                print("  (gave up after 300 s)")
                break
        return time.monotonic() - started
    finally:
        stop(worker)


def statements_per_event(merchant, referrals) -> int:
    """SQL statements (BEGIN and COMMIT included) that a drainer takes to attribute one checkout, counted in-process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stripe_integration import services
    from stripe_integration.models import StripeEvent
    from stripe_integration.services import sql

    counts = []
    for rid in referrals[:2]:  # the second: the first warms what is cached (the merchant's webhook subscriptions)
        payload = checkout_event(merchant, rid)
        event = StripeEvent(
            stripe_id=payload["id"],
            type=payload["type"],
            account=payload["account"],
            merchant=merchant,
            payload=payload,
        )
        sql.insert_event_unless_stored(event)
        # as a drainer runs them (drainers._drain_chunk)
        with services.asynchronous_commits(), CaptureQueriesContext(connection) as queries:
            assert services.process_next_event()[1] == StripeEvent.Status.PROCESSED
        counts.append(len(queries.captured_queries))
    connection.close()
    return counts[-1]


def bench_worker(args, merchant, referrals) -> None:
    from django.db import connection

    from affiliates.models import Commission
    from bench.stripe_tasks import noop_task
    from stripe_integration.drainers import request_drain
    from stripe_integration.models import StripeEvent
    from stripe_integration.services import sql

    n = args.events
    print(f"[worker] SQL statements per attributed checkout: {statements_per_event(merchant, referrals)}")

    def queue_empty(r) -> bool:
        return r.llen("bench") == 0 and r.hlen("unacked") == 0

    noop_seconds = drain(
        args,
        base_env(args),
        "bench",
        lambda: [noop_task.apply_async((i,), queue="bench") for i in range(n)],
        queue_empty,
    )
    noop_rate = n / noop_seconds
    print(
        f"[worker] no-op tasks: {n} in {noop_seconds:.2f} s = {noop_rate:.0f}/s ({args.concurrency} prefork processes, "
        f"acks_late, the same worker command as the attributed runs)"
    )

    for label, extra in (
        ("connection closed around each task (Celery's default)", {"CELERY_DB_REUSE_MAX": "0"}),
        ("connection reused (CELERY_DB_REUSE_MAX)", {"CELERY_DB_REUSE_MAX": "1000"}),
    ):
        ids = []

        def fill(ids=ids):
            ids.clear()
            for i in range(n):
                payload = checkout_event(merchant, referrals[i % len(referrals)])
                event = StripeEvent(
                    stripe_id=payload["id"],
                    type=payload["type"],
                    account=payload["account"],
                    merchant=merchant,
                    payload=payload,
                )
                sql.insert_event_unless_stored(event)
                ids.append(event.pk)
            for _ in ids:  # what the webhook does after each event's commit
                request_drain()
            connection.close()

        def processed(r, ids=ids) -> bool:
            # Cheap enough to poll while the worker runs (the status index; no list of a thousand ids).
            time.sleep(0.08)
            return not StripeEvent.objects.filter(pk__gte=ids[0], status="pending").exists()

        seconds = drain(args, base_env(args, **extra), "celery", fill, processed)
        made = Commission.objects.filter(
            source_id__in=[
                e["payload"]["data"]["object"]["payment_intent"]
                for e in StripeEvent.objects.filter(pk__in=ids).values("payload")
            ]
        ).count()
        rate = n / seconds
        print(
            f"[worker] attributed events, {label}: {n} in {seconds:.2f} s = {rate:.0f}/s, {made} commissions; "
            f"{rate / noop_rate:.0%} of the no-op rate (target >= 50%)"
        )


# --- latency --------------------------------------------------------------------------------------------------------


def bench_latency(args, merchant, referrals) -> None:
    from affiliates.models import Commission
    from tests.stripe_events import encode, sign

    total = args.rate * args.seconds
    events = [checkout_event(merchant, referrals[i % len(referrals)]) for i in range(total)]
    server = start_web(args, base_env(args))
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    worker = start_worker(args, base_env(args), "celery")
    sent: dict[str, float] = {}
    errors = []
    try:
        # Warm up both processes' connections with a few events first.
        def post(event, conn):
            body = encode(event)
            conn.request(
                "POST",
                "/stripe/webhook/",
                body=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, secret=SECRET)},
            )
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)

        warm = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
        for i in range(20):
            post(checkout_event(merchant, referrals[i % len(referrals)]), warm)
        time.sleep(1)

        lanes = 32  # connections sending in turn, so slow answers do not hold back the schedule
        interval = 1.0 / args.rate
        start = time.monotonic() + 0.2

        def lane(index):
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
            for i in range(index, total, lanes):
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                event = events[i]
                sent[event["data"]["object"]["payment_intent"]] = time.time()
                post(event, conn)

        threads = [threading.Thread(target=lane, args=(k,)) for k in range(lanes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        achieved = total / (time.monotonic() - start)
        deadline = time.monotonic() + 60
        while Commission.objects.filter(source_id__in=list(sent)).count() < total and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(worker)
        stop(server)
    created = dict(Commission.objects.filter(source_id__in=list(sent)).values_list("source_id", "created_at"))
    latencies = sorted((created[k].timestamp() - t) * 1000 for k, t in sent.items() if k in created)
    if not latencies:
        print("[latency] no commission was written")
        return
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"[latency] {total} events at {achieved:.0f}/s: {len(latencies)} commissions; event-to-commission "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms (target p99 < 250 ms); "
        f"non-200 answers: {len(errors)}"
    )


def main() -> None:
    args = parse_args()
    parts = args.parts.split(",")
    if "accept" in parts and not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    merchant, referrals = prepare(args)
    set_aside_pending()  # left by an interrupted run
    print(
        f"{os.cpu_count()} CPUs; gunicorn {args.workers} workers x {args.threads} threads; worker "
        f"{args.concurrency} processes; load before: {load_average()}"
    )
    if "accept" in parts:
        bench_accept(args, merchant, referrals)
    if "worker" in parts:
        bench_worker(args, merchant, referrals)
    if "latency" in parts:
        bench_latency(args, merchant, referrals)
    print(f"load after: {load_average()}")


if __name__ == "__main__":
    main()
