"""Tracking bench (run by hand; prints figures and ratios, asserts nothing).

    .venv/bin/python bench/tracking_click.py [--seconds 4] [--rounds 3] [--connections 64] [--modes direct,buffer]

1. The size of /t.js, raw and gzipped (limit: 1,000 bytes gzipped).
2. POST /api/track/click against a bare Django view (same middleware, same
   body) on the same gunicorn, in the same run, at 64 connections with wrk:
   requests per second, p50 and p99 latency, and the click's share of the
   bare view's throughput. Each mode gets its own server start:
     direct  every click INSERTs its referral and click in the request;
     buffer  clicks go to a Redis stream (tracking/buffer.py), then the bench
             drains the stream the way the Celery task does and checks that
             every 2xx answer became exactly one stored click.
Needs PostgreSQL and Redis on 127.0.0.1 (as `make test` has them) and wrk
(Debian's package). Uses the database `bench_afficone_tracking` (created and
migrated when missing) and the Redis database of --redis-url (flushed).
"""

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from harness import migrated_database, production_env, run_wrk, start_gunicorn, stop

sys.path.insert(0, str(ROOT))
DB_NAME = "bench_afficone_tracking"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of bare, fast-path bare and click")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--modes", default="direct,buffer")
    # docker-compose.yml's web service: gunicorn with WEB_CONCURRENCY (3) sync workers.
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 3)))
    parser.add_argument("--threads", type=int, default=1, help="more than 1 runs gthread workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database-url", default=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    parser.add_argument("--redis-url", default=os.environ.get("AFFICONE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
    return parser.parse_args()


def script_size() -> None:
    body = (ROOT / "static" / "tracking" / "t.js").read_bytes()
    gz = len(gzip.compress(body, compresslevel=9))
    print(
        f"t.js: {len(body)} bytes, {gz} bytes gzipped (limit 1000: {'within' if gz <= 1000 else 'OVER'}; "
        f"Dub's script 1687, Plausible's smallest 743)"
    )


def base_env(args, *, buffer: bool) -> dict:
    return production_env(
        "bench.tracking_settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        TRACKING_BUFFER="true" if buffer else "false",
        TRACKING_CLIENT_IP_HEADER="HTTP_X_REAL_IP",
    )


def prepare_database(args) -> tuple[str, str]:
    """Creates and migrates the bench database when needed; returns (public key, code) of a bench affiliate."""
    migrated_database(args.database_url, base_env(args, buffer=False))
    import django

    django.setup()
    from affiliates.models import Affiliate
    from affiliates.onboarding import create_merchant
    from affiliates.services import create_affiliate
    from tenants.models import Merchant

    merchant = Merchant.objects.filter(slug="bench-shop").first()
    if merchant is None:
        merchant, _ = create_merchant(name="Bench Shop", owner_email="bench@example.com")
    affiliate = Affiliate.objects.filter(merchant=merchant, code="bench").first() or create_affiliate(
        merchant, email="partner@example.com", code="bench"
    )
    return merchant.public_key, affiliate.code


def start_server(args, env) -> subprocess.Popen:
    return start_gunicorn(
        port=args.port, workers=args.workers, threads=args.threads, env=env, extra=("--timeout", "30")
    )


def wrk(args, path: str, seconds: int, key: str, code: str) -> dict:
    env = dict(os.environ, AFFICONE_BENCH_KEY=key, AFFICONE_BENCH_CODE=code)
    return run_wrk(
        f"http://127.0.0.1:{args.port}{path}",
        seconds=seconds,
        connections=args.connections,
        script=str(ROOT / "bench" / "tracking_click.lua"),
        env=env,
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    script_size()
    key, code = prepare_database(args)
    import redis
    from django.db import connection

    from tracking import buffer
    from tracking.models import Click

    redis.Redis.from_url(args.redis_url).flushdb()
    kind = (
        f"{args.workers} gthread workers x {args.threads} threads"
        if args.threads > 1
        else f"{args.workers} sync workers"
    )
    print(
        f"gunicorn: {kind}; wrk: 2 threads, {args.connections} connections, {args.seconds} s per run; "
        f"{os.cpu_count()} CPUs; load before: {load_average()}"
    )
    for mode in args.modes.split(","):
        env = base_env(args, buffer=(mode == "buffer"))
        server = start_server(args, env)
        rounds = []  # bare, fast-path bare and click, interleaved: a burst of load elsewhere hits all three alike
        try:
            wrk(args, "/bench/bare", 2, key, code)  # warm up: imports, connections, the link cache
            wrk(args, "/api/track/click", 2, key, code)
            clicks_before = Click.objects.count()
            redis.Redis.from_url(args.redis_url).delete(buffer.STREAM)
            for _ in range(args.rounds):
                rounds.append(
                    {
                        "bare": wrk(args, "/bench/bare", args.seconds, key, code),
                        "fast": wrk(args, "/bench/bare-fast", args.seconds, key, code),
                        "click": wrk(args, "/api/track/click", args.seconds, key, code),
                    }
                )
        finally:
            stop(server)
        accepted = sum(r["click"]["requests"] - r["click"]["non2xx"] for r in rounds)
        # wrk counts the answers it read before the clock stopped; the server also finished the ones in flight.
        if mode == "buffer":
            backlog = buffer.backlog()
            started = time.monotonic()
            while buffer.backlog():
                buffer.flush()
            elapsed = time.monotonic() - started
            connection.close()
            stored = Click.objects.count() - clicks_before
            note = (
                f"flushed {backlog} buffered clicks in {elapsed:.1f} s ({backlog / max(elapsed, 1e-9):.0f}/s), "
                f"{stored} rows: {'none lost, none doubled' if stored == backlog else 'MISMATCH'} "
                f"(wrk read {accepted} 2xx answers)"
            )
        else:
            stored = Click.objects.count() - clicks_before
            note = f"{stored} clicks stored (wrk read {accepted} 2xx answers)"
        print()
        for name, label in (("bare", "bare view"), ("fast", "bare view, fast path"), ("click", "click")):
            runs = [r[name] for r in rounds]
            print(
                f"[{mode}] {label:21} "
                + "  ".join(f"{r['rps']:6.0f}/s p50 {r['p50']:5.1f} p99 {r['p99']:6.1f} ms" for r in runs)
                + (f"  non-2xx {sum(r['non2xx'] for r in runs)}" if name == "click" else "")
            )
        ratios = sorted(r["click"]["rps"] / r["bare"]["rps"] for r in rounds)
        fast_ratios = sorted(r["click"]["rps"] / r["fast"]["rps"] for r in rounds)
        p99 = sorted(r["click"]["p99"] for r in rounds)
        mid = len(rounds) // 2
        print(
            f"[{mode}] click / bare view: median {ratios[mid]:.0%} of the throughput over {len(rounds)} rounds "
            f"(range {ratios[0]:.0%}-{ratios[-1]:.0%}; target >= 60%); click p99 median {p99[mid]:.0f} ms "
            f"(target < 50 ms); click / bare view on the same fast path: median {fast_ratios[mid]:.0%}"
        )
        print(f"[{mode}] {note}")
    print(f"\nload after: {load_average()}")


if __name__ == "__main__":
    main()
