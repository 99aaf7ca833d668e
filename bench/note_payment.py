"""What the hand-written UPDATE of `_note_payment` (affiliates/services/commissions.py) saves the worker
(run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/note_payment.py [--calls 1000] [--events 400] [--rounds 5]

Every payment sets its referral's first_payment_at = LEAST(first_payment_at, paid_at) and keeps converted_at, in
one UPDATE. The same single statement can be written with the ORM (`.update()` with Least and Coalesce). This
prints, in one process on Postgres, the CPU time (this process only: building and sending the statement, not
Postgres running it) and the wall time per call of each, in interleaved rounds; then the CPU time per attributed
checkout as a drainer processes stored events (stripe_integration.services.process_next_event, new-commission
emails batched as the drainer does), with each.

Uses the database named in --database-url (default `bench_afficone_stripe`, as bench/stripe_webhook.py; created and
migrated when missing).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from harness import production_env

sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="UPDATEs per variant and round")
    parser.add_argument("--events", type=int, default=400, help="attributed checkouts per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_afficone_stripe")
    return parser.parse_args()


def setup(args) -> None:
    import psycopg

    admin_url, db_name = args.database_url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
            conn.execute(f'CREATE DATABASE "{db_name}"')
    env = production_env("bench.stripe_settings", DATABASE_URL=args.database_url, CELERY_TASK_ALWAYS_EAGER="true")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()


def orm_note_payment(referral, *, paid_at, now) -> None:
    """The ORM's single statement, for comparison."""
    from django.db.models import Value
    from django.db.models.functions import Coalesce, Least

    from affiliates.models import Referral

    Referral.objects.filter(pk=referral.pk).update(
        first_payment_at=Least(Coalesce("first_payment_at", Value(paid_at)), Value(paid_at)),
        converted_at=Coalesce("converted_at", Value(now)),
    )


def main() -> None:
    args = parse_args()
    setup(args)
    from django.db import transaction
    from django.utils import timezone

    from affiliates.models import Affiliate
    from affiliates.onboarding import create_merchant
    from affiliates.services import batched_commission_notices, commissions, create_affiliate, create_referral
    from stripe_integration import services
    from stripe_integration.models import StripeEvent
    from tenants.models import Merchant
    from tests.stripe_events import checkout_session, make_event

    merchant = Merchant.objects.filter(stripe_account_id="acct_bench_note").first()
    if merchant is None:
        merchant, _ = create_merchant(
            name="Bench Note Shop", owner_email="bench-note@example.com", stripe_account_id="acct_bench_note"
        )
    affiliate = Affiliate.objects.filter(merchant=merchant, code="note").first() or create_affiliate(
        merchant, email="note@example.com", code="note"
    )
    referrals = [create_referral(affiliate) for _ in range(50)]
    hand_written = commissions._note_payment
    variants = {"hand-written": hand_written, "ORM": orm_note_payment}
    print(f"load before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")

    per_call: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    now = timezone.now()
    for round_ in range(args.rounds):
        for name in sorted(variants, reverse=bool(round_ % 2)):
            note = variants[name]
            with transaction.atomic():
                cpu, wall = time.process_time(), time.perf_counter()
                for i in range(args.calls):
                    note(referrals[i % len(referrals)], paid_at=now - timedelta(seconds=i), now=now)
                per_call[name].append(
                    ((time.process_time() - cpu) / args.calls * 1e6, (time.perf_counter() - wall) / args.calls * 1e6)
                )
    for name, figures in per_call.items():
        print(
            f"[update] {name}: CPU {statistics.median(c for c, _ in figures):.0f} µs, "
            f"wall {statistics.median(w for _, w in figures):.0f} µs per call (median of {args.rounds} rounds)"
        )

    per_event: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name in sorted(variants, reverse=bool(round_ % 2)):
            commissions._note_payment = variants[name]
            for i in range(args.events):
                payload = make_event(
                    "checkout.session.completed",
                    checkout_session(client_reference_id=referrals[i % len(referrals)].rid),
                    account=merchant.stripe_account_id,
                )
                event = StripeEvent(
                    stripe_id=payload["id"],
                    type=payload["type"],
                    account=payload["account"],
                    merchant=merchant,
                    payload=payload,
                )
                services._insert_unless_stored(event)
            with batched_commission_notices():  # as a drainer runs them (stripe_integration/dispatch.py)
                done, cpu = 0, time.process_time()
                with services.asynchronous_commits():
                    while services.process_next_event() is not None:
                        done += 1
                per_event[name].append((time.process_time() - cpu) / max(done, 1) * 1e6)
    commissions._note_payment = hand_written
    for name, figures in per_event.items():
        print(f"[checkout] {name}: CPU {statistics.median(figures):.0f} µs per attributed checkout")
    print(f"load after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
