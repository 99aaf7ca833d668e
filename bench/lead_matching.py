"""Lead matching bench (run by hand; prints figures and ratios, asserts nothing).

    .venv/bin/python bench/lead_matching.py [--events 400] [--rounds 3] [--leads 20000]

In one process against Postgres (database `bench_afficone_leads`, created and migrated when missing), with a lead
table of --leads rows of other addresses, it processes stored events the way a drainer does
(`process_next_event` under asynchronous commits) and prints:

- SQL statements per customer.created event: one with no lead for its address (what every customer event of a
  merchant now pays) and one whose lead binds it; the statements on the lead table are counted apart (target: at
  most 2 per customer event);
- events per second, in interleaved rounds (median): attributed checkouts alone (the attribution rate measured today,
  `client_reference_id`), and the same checkouts each followed by a customer.created event of an unreferred
  customer, which the lead matcher examines and finds nothing for. The second figure is counted in checkouts per
  second, so its ratio to the first is what lead matching (and the customer events themselves) leave of the
  attributed-events rate (target: lead matching costs under 10%);
- guest checkouts attributed through the lead for their buyer's email (no referral id) per second, against
  checkouts attributed by their referral id;
- lead matching for a customer event of a customer nobody referred (bind_by_lead, finding nothing), timed alone, as
  a share of an attributed checkout's processing time: what leads add per customer event (target: under 10%).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import migrated_database, production_env

DB_NAME = "bench_afficone_leads"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400, help="payments per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--leads", type=int, default=20000, help="leads of other addresses already in the table")
    parser.add_argument("--database-url", default=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    parser.add_argument("--redis-url", default=os.environ.get("AFFICONE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"))
    return parser.parse_args()


FAKE = None


def prepare(args):
    """The database, a merchant with its affiliate and --leads leads of other addresses; and Stripe's API served by
    the tests' local fake (tests/fake_stripe/), where the bench's customers are put: a payment that would earn reads
    its customer (services/exclusions.py)."""
    global FAKE

    from tests.fake_stripe import FakeStripe

    FAKE = FakeStripe(secret_key="sk_test_bench", client_id="ca_bench").start()

    env = production_env(
        "bench.stripe_settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CELERY_TASK_ALWAYS_EAGER="true",
        STRIPE_WEBHOOK_SECRET="whsec_bench",
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_CLIENT_ID="ca_bench",
        STRIPE_API_BASE=FAKE.base_url,
        STRIPE_CONNECT_BASE=FAKE.base_url,
    )
    migrated_database(args.database_url, env)
    import django

    django.setup()
    from affiliates.models import Affiliate, Lead, Referral
    from affiliates.onboarding import create_merchant
    from affiliates.services import create_affiliate, create_referral
    from tenants.models import Merchant

    merchant = Merchant.objects.filter(stripe_account_id="acct_bench_leads").first()
    if merchant is None:
        merchant, _ = create_merchant(
            name="Bench Leads Shop", owner_email="bench-leads@example.com", stripe_account_id="acct_bench_leads"
        )
    affiliate = Affiliate.objects.filter(merchant=merchant, code="bench").first() or create_affiliate(
        merchant, email="partner@example.com", code="bench"
    )
    have = Lead.objects.filter(merchant=merchant, email__startswith="other-").count()
    if have < args.leads:
        referral = Referral.objects.filter(affiliate=affiliate).first() or create_referral(affiliate)
        Lead.objects.bulk_create(
            [
                Lead(merchant=merchant, referral=referral, email=f"other-{n}@example.org", origin="server")
                for n in range(have, args.leads)
            ],
            batch_size=5000,
        )
    return merchant, affiliate


def store(merchant, events) -> None:
    from stripe_integration.models import StripeEvent
    from stripe_integration.services import sql

    for payload in events:
        sql.insert_event_unless_stored(
            StripeEvent(
                stripe_id=payload["id"],
                type=payload["type"],
                account=payload["account"],
                merchant=merchant,
                payload=payload,
            )
        )


def process_all() -> tuple[int, float]:
    from stripe_integration import services

    count, started, after = 0, time.perf_counter(), 0
    with services.asynchronous_commits():
        while (done := services.process_next_event(after=after)) is not None:
            after = done[0]
            count += 1
    return count, time.perf_counter() - started


def referred_checkouts(merchant, affiliate, n: int, tag: str) -> list:
    from affiliates.services import create_referral
    from tests.stripe_events import checkout_session, make_event

    return [
        make_event(
            "checkout.session.completed",
            checkout_session(client_reference_id=create_referral(affiliate).rid),
            account=merchant.stripe_account_id,
        )
        for _ in range(n)
    ]


def with_customer_events(merchant, checkouts: list, tag: str) -> list:
    """Each checkout followed by a customer.created of somebody nobody referred (no lead has the address)."""
    from tests.stripe_events import customer, make_event

    mixed = []
    for n, event in enumerate(checkouts):
        mixed.append(event)
        cus = customer(email=f"walk-in-{tag}-{n}@example.net", metadata={})
        mixed.append(make_event("customer.created", cus, account=merchant.stripe_account_id))
    return mixed


def lead_payments(merchant, affiliate, n: int, tag: str) -> list:
    """n guest checkouts (no referral id, no customer) attributed through the lead for the buyer's email."""
    from affiliates.models import Lead
    from affiliates.services import create_referral, record_lead
    from tests.stripe_events import checkout_session, make_event

    events = []
    for i in range(n):
        email = f"lead-{tag}-{i}@example.org"
        record_lead(create_referral(affiliate), email=email, origin=Lead.Origin.SERVER)
        session = checkout_session(customer_details={"email": email})
        events.append(make_event("checkout.session.completed", session, account=merchant.stripe_account_id))
    return events


def lookup_cost(merchant, n: int) -> float:
    """Seconds that lead matching adds to a customer event of a customer nobody referred (what the customer handler
    calls, services/leads.py bind_by_lead, for an address and customer no lead has)."""
    from django.utils import timezone

    from stripe_integration.services import bind_by_lead

    now = timezone.now()
    started = time.perf_counter()
    for i in range(n):
        bind_by_lead(merchant, email=f"walk-in-{i}@example.net", customer_id=f"cus_walkin{i}", created=now)
    return (time.perf_counter() - started) / n


def statements(merchant, affiliate) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from affiliates.models import Lead
    from affiliates.services import create_referral, record_lead
    from stripe_integration import services
    from tests.stripe_events import customer, make_event

    tag = os.urandom(3).hex()
    record_lead(create_referral(affiliate), email=f"stmt-{tag}@example.org", origin=Lead.Origin.SERVER)
    for label, email in (("no lead", f"nobody-{tag}@example.net"), ("bound by its lead", f"stmt-{tag}@example.org")):
        store(merchant, [make_event("customer.created", customer(email=email), account=merchant.stripe_account_id)])
        with services.asynchronous_commits(), CaptureQueriesContext(connection) as queries:
            services.process_next_event()
        on_leads = sum('"affiliates_lead"' in q["sql"] for q in queries.captured_queries)
        print(
            f"[leads] customer.created, {label}: {len(queries.captured_queries)} SQL statements, "
            f"{on_leads} on the lead table (target <= 2)"
        )


def main() -> None:
    args = parse_args()
    merchant, affiliate = prepare(args)
    from stripe_integration.models import StripeEvent

    StripeEvent.objects.filter(status=StripeEvent.Status.PENDING).update(status=StripeEvent.Status.IGNORED)
    print(f"{os.cpu_count()} CPUs; load before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    statements(merchant, affiliate)
    rates: dict[str, list[float]] = {
        "checkouts": [],
        "checkouts + customer events": [],
        "guest checkouts attributed by their lead": [],
    }
    lookups: list[float] = []
    n = args.events
    for round_ in range(args.rounds):
        tag = f"{os.urandom(3).hex()}{round_}"
        for kind in rates:
            if kind == "checkouts":
                events = referred_checkouts(merchant, affiliate, n, tag)
            elif kind == "checkouts + customer events":
                events = with_customer_events(merchant, referred_checkouts(merchant, affiliate, n, tag), tag)
            else:
                events = lead_payments(merchant, affiliate, n, tag)
            store(merchant, events)
            processed, seconds = process_all()
            assert processed == len(events), (processed, len(events))
            rates[kind].append(n / seconds)  # payments (checkouts) per second
        lookups.append(lookup_cost(merchant, n))
    base = statistics.median(rates["checkouts"])
    for kind, values in rates.items():
        median = statistics.median(values)
        spread = ", ".join(f"{v:.0f}" for v in values)
        print(f"[leads] {kind}: {median:.0f} payments/s (rounds: {spread}); {median / base:.0%} of checkouts alone")
    lookup = statistics.median(lookups)
    print(
        f"[leads] lead matching for a customer event that no lead has ({args.leads} leads in the table): "
        f"{lookup * 1000:.2f} ms = "
        f"{lookup * base:.1%} of an attributed checkout's processing (target < 10%)"
    )


if __name__ == "__main__":
    main()
