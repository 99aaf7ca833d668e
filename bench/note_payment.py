"""What the hand-written UPDATEs of `_note_payment` (affiliates/services/commissions.py) and `wake_events`
(stripe_integration/services/sql.py) save the worker (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/note_payment.py [--calls 1000] [--events 400] [--rounds 5]

Every payment sets its referral's first_payment_at = LEAST(first_payment_at, paid_at) and keeps converted_at, in
one UPDATE. The same single statement can be written with the ORM (`.update()` with Least and Coalesce). This
prints, in one process on Postgres, the CPU time (this process only: building and sending the statement, not
Postgres running it) and the wall time per call of each, in interleaved rounds; then the CPU time per attributed
checkout as a drainer processes stored events (stripe_integration.services.process_next_event, new-commission
emails batched as the drainer does), with each.

Every attributed payment also wakes the merchant's events waiting for its payment intent or charge
(stripe_integration/services/waiting.py), one UPDATE that the ORM writes as
`StripeEvent.objects.filter(merchant_id=..., status=WAITING, waiting_for__in=keys).update(status=PENDING,
enqueued_at=now)`. The same two figures are printed for it: per call (each call waking one event, in a transaction
rolled back after the round; both variants must wake the same number) and per attributed checkout. Each part prints
the ORM's CPU time as a ratio of the hand-written one's.

Uses the database named in --database-url (default `bench_afficone_stripe`, as bench/stripe_webhook.py; created and
migrated when missing).
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from harness import migrated_database, production_env

sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="UPDATEs per variant and round")
    parser.add_argument("--events", type=int, default=400, help="attributed checkouts per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_afficone_stripe")
    return parser.parse_args()


def setup(args) -> None:
    env = production_env("bench.stripe_settings", DATABASE_URL=args.database_url, CELERY_TASK_ALWAYS_EAGER="true")
    migrated_database(args.database_url, env)
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


def orm_wake_events(merchant_id, keys, *, now) -> int:
    """The ORM's single statement, for comparison."""
    from stripe_integration.models import StripeEvent

    if not keys:
        return 0
    return StripeEvent.objects.filter(
        merchant_id=merchant_id, status=StripeEvent.Status.WAITING, waiting_for__in=keys
    ).update(status=StripeEvent.Status.PENDING, enqueued_at=now)


def interleaved(variants: dict, rounds: int, run) -> dict[str, list]:
    """`run(name, variant)` for each variant in each round, their order swapped every other round."""
    figures: dict[str, list] = {name: [] for name in variants}
    for round_ in range(rounds):
        for name in sorted(variants, reverse=bool(round_ % 2)):
            figures[name].append(run(name, variants[name]))
    return figures


def ratio(figures: dict[str, list[float]]) -> str:
    hand, orm = (statistics.median(figures[name]) for name in ("hand-written", "ORM"))
    return f"ORM / hand-written CPU = {orm / hand:.2f}"


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
    from stripe_integration.services import sql
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
                sql.insert_event_unless_stored(event)
            with batched_commission_notices():  # as a drainer runs them (stripe_integration/dispatch.py)
                done, cpu = 0, time.process_time()
                with services.asynchronous_commits():
                    while services.process_next_event() is not None:
                        done += 1
                per_event[name].append((time.process_time() - cpu) / max(done, 1) * 1e6)
    commissions._note_payment = hand_written
    for name, figures in per_event.items():
        print(f"[checkout] {name}: CPU {statistics.median(figures):.0f} µs per attributed checkout")
    print(f"[update] {ratio({name: [c for c, _ in f] for name, f in per_call.items()})}")
    print(f"[checkout] {ratio(per_event)}")

    def checkout_cpu(name, variant) -> float:
        return drain_checkouts(variant)

    def drain_checkouts(wake) -> float:
        sql.wake_events = wake
        try:
            for i in range(args.events):
                payload = make_event(
                    "checkout.session.completed",
                    checkout_session(client_reference_id=referrals[i % len(referrals)].rid),
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
            with batched_commission_notices():
                done, cpu = 0, time.process_time()
                with services.asynchronous_commits():
                    while services.process_next_event() is not None:
                        done += 1
                return (time.process_time() - cpu) / max(done, 1) * 1e6
        finally:
            sql.wake_events = hand_wake

    hand_wake = sql.wake_events
    wake_variants = {"hand-written": hand_wake, "ORM": orm_wake_events}
    StripeEvent.objects.filter(stripe_id__startswith="evt_bench_wake_").delete()
    StripeEvent.objects.bulk_create(
        StripeEvent(
            stripe_id=f"evt_bench_wake_{i}",
            type="charge.refunded",
            account=merchant.stripe_account_id,
            merchant=merchant,
            payload={},
            status=StripeEvent.Status.WAITING,
            waiting_for=f"pi_bench_wake_{i}",
        )
        for i in range(args.calls)
    )

    def wake_round(name, wake) -> tuple[float, float]:
        with transaction.atomic():
            woken, cpu, wall = 0, time.process_time(), time.perf_counter()
            for i in range(args.calls):
                woken += wake(merchant.pk, [f"ch_bench_wake_{i}", f"pi_bench_wake_{i}"], now=now)
            figures = (
                (time.process_time() - cpu) / args.calls * 1e6,
                (time.perf_counter() - wall) / args.calls * 1e6,
            )
            assert woken == args.calls, (name, woken)
            transaction.set_rollback(True)
        return figures

    wake_calls = interleaved(wake_variants, args.rounds, wake_round)
    StripeEvent.objects.filter(stripe_id__startswith="evt_bench_wake_").delete()
    for name, figures in wake_calls.items():
        print(
            f"[wake] {name}: CPU {statistics.median(c for c, _ in figures):.0f} µs, "
            f"wall {statistics.median(w for _, w in figures):.0f} µs per call (median of {args.rounds} rounds)"
        )
    wake_checkouts = interleaved(wake_variants, args.rounds, checkout_cpu)
    for name, figures in wake_checkouts.items():
        print(f"[wake checkout] {name}: CPU {statistics.median(figures):.0f} µs per attributed checkout")
    print(f"[wake] {ratio({name: [c for c, _ in f] for name, f in wake_calls.items()})}")
    print(f"[wake checkout] {ratio(wake_checkouts)}")
    print(f"load after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
