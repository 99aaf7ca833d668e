"""Reconciliation with Stripe's Events API (stripe_integration/reconciliation.py), through `manage.py stripe_sync`
against the local fake of Stripe (tests/fake_stripe/), which lists the events a test put there as Stripe lists them.

The events are the signed webhook events of tests/stripe_events.py: the same objects, whether the webhook delivered
them or the check found them, so both routes can be compared commission for commission.
"""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import requests
import stripe
from django.core.management import CommandError, call_command
from django.utils import timezone

from affiliates.models import Commission
from stripe_integration.client import stripe_client
from stripe_integration.connect import mark_stripe_disconnected
from stripe_integration.models import StripeEvent, StripeSync
from stripe_integration.reconciliation import (
    INTERRUPTED,
    STALE,
    nightly_since,
    request_stripe_sync,
    run_stripe_sync,
    sync_connected_merchants,
)
from stripe_integration.services import WEBHOOK_EVENT_TYPES
from tests.stripe_events import customer, make_event, now, post_event
from tests.stripe_integration.test_ordering import EXPECTED, build_scenario, deliver, outcome

pytestmark = pytest.mark.django_db

EVENTS = "/v1/events"


@pytest.fixture(autouse=True)
def quick_back_off(settings):
    settings.STRIPE_SYNC_BACKOFF_SECONDS = 0.02


@pytest.fixture
def sync(django_capture_on_commit_callbacks):
    """`manage.py stripe_sync ARGS`, its processing run as a commit would run it; returns (stdout, stderr)."""

    def run(*args: str) -> tuple[str, str]:
        out, err = StringIO(), StringIO()
        try:
            with django_capture_on_commit_callbacks(execute=True):
                call_command("stripe_sync", *args, stdout=out, stderr=err)
        except CommandError as exc:  # with what the command wrote, for the reader of a failure
            raise CommandError(f"{exc}\n{err.getvalue()}") from None
        return out.getvalue(), err.getvalue()

    return run


def in_stripe(fake_stripe, events: list[dict]) -> list[dict]:
    """Puts `events` in the fake's Events API as Stripe created them: in this order, a second apart, up to now."""
    start = now() - len(events)
    for index, event in enumerate(events):
        event["created"] = start + index
        fake_stripe.add_event(event)
    return events


def customers_created(merchant, count: int) -> list[dict]:
    return [make_event("customer.created", customer(), account=merchant.stripe_account_id) for _ in range(count)]


def commissions(merchant) -> list[dict]:
    return list(Commission.objects.for_merchant(merchant).order_by("pk").values())


# --- the fake's Events API ------------------------------------------------------------------------------------------


def test_the_fake_lists_an_accounts_events_newest_first_in_pages_as_stripe_does(fake_stripe, settings):
    t0 = now() - 100
    mine = [make_event("customer.created", customer(), account="acct_A", created=t0 + i) for i in range(5)]
    theirs = fake_stripe.add_event(make_event("customer.created", customer(), account="acct_B", created=t0))
    for event in mine:
        fake_stripe.add_event(event)
    plan = fake_stripe.add_event(
        make_event("plan.created", {"id": "plan_1", "object": "plan"}, account="acct_A", created=t0)
    )
    client = stripe_client()

    def ids(**params):
        page = client.v1.events.list(params, options={"stripe_account": "acct_A"})
        return [e.id for e in page.data], page.has_more

    assert ids(limit=2, type="customer.created") == ([mine[4]["id"], mine[3]["id"]], True)
    assert ids(limit=2, type="customer.created", starting_after=mine[3]["id"]) == ([mine[2]["id"], mine[1]["id"]], True)
    assert ids(limit=2, type="customer.created", starting_after=mine[1]["id"]) == ([mine[0]["id"]], False)
    assert ids(limit=2, type="customer.created", ending_before=mine[0]["id"]) == ([mine[2]["id"], mine[1]["id"]], True)
    assert ids(created={"gte": t0 + 3}) == ([mine[4]["id"], mine[3]["id"]], False)
    assert ids(types=["plan.created", "invoice.paid"]) == ([plan["id"]], False)
    assert len(ids(limit=100)[0]) == 6  # the account's own events only, every type
    listed = client.v1.events.list({"limit": 100}, options={"stripe_account": "acct_B"})
    assert [e.id for e in listed.data] == [theirs["id"]]
    assert listed.data[0].to_dict() == theirs  # the event as it was put there
    # Stripe's list shape on the wire.
    raw = requests.get(
        f"{fake_stripe.base_url}{EVENTS}",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}", "Stripe-Account": "acct_A"},
        timeout=5,
    ).json()
    assert set(raw) == {"object", "data", "has_more", "url"}
    assert (raw["object"], raw["url"], raw["has_more"], len(raw["data"])) == ("list", EVENTS, True, 1)
    fake_stripe.deny_access("acct_A", status=401)
    with pytest.raises(stripe.AuthenticationError, match="does not have access to account 'acct_A'"):
        client.v1.events.list({}, options={"stripe_account": "acct_A"})


# --- what a check finds ---------------------------------------------------------------------------------------------


def test_missed_events_earn_the_commissions_the_webhook_would_have_written(client, fake_stripe, sync):
    by_webhook, delivered, names_delivered = build_scenario(fake_stripe)
    deliver(client, delivered)
    missed, events, names = build_scenario(fake_stripe)
    in_stripe(fake_stripe, events)

    out, _ = sync("--merchant", missed.slug)

    assert outcome(missed, names) == outcome(by_webhook, names_delivered) == EXPECTED
    assert (
        f"{missed.slug} ({missed.stripe_account_id}): 19 events" in out
        and "19 stored that the webhook had missed" in out
    )
    run = StripeSync.objects.for_merchant(missed).get()
    assert (run.status, run.trigger, run.pages, run.events_seen, run.events_stored, run.error) == (
        "succeeded",
        "command",
        1,
        19,
        19,
        "",
    )
    stored = StripeEvent.objects.for_merchant(missed)
    assert sorted(stored.values_list("stripe_id", flat=True)) == sorted(e["id"] for e in events)
    assert not stored.exclude(status=StripeEvent.Status.PROCESSED).exists()
    # Stored as Stripe lists it, and in the order Stripe created the events, as the webhook would have stored them.
    assert stored.get(stripe_id=events[0]["id"]).payload == events[0]
    assert list(stored.order_by("pk").values_list("stripe_id", flat=True)) == [e["id"] for e in events]


def test_a_check_fills_in_what_the_webhook_missed_of_a_scenario(client, fake_stripe, sync):
    merchant, events, names = build_scenario(fake_stripe)
    in_stripe(fake_stripe, events)
    deliver(client, events[::2])  # the webhook delivered every other event

    sync("--merchant", merchant.slug)

    assert outcome(merchant, names) == EXPECTED
    run = StripeSync.objects.for_merchant(merchant).get()
    assert (run.events_seen, run.events_stored) == (19, len(events[1::2]))
    assert StripeEvent.objects.for_merchant(merchant).count() == len(events)


def test_a_check_after_the_webhook_delivered_everything_stores_nothing(client, fake_stripe, sync):
    merchant, events, names = build_scenario(fake_stripe)
    in_stripe(fake_stripe, events)
    deliver(client, events)
    before = commissions(merchant)

    out, _ = sync("--merchant", merchant.slug)

    assert "0 stored that the webhook had missed" in out
    assert StripeSync.objects.for_merchant(merchant).get().events_stored == 0
    assert StripeEvent.objects.for_merchant(merchant).count() == len(events)
    assert commissions(merchant) == before and outcome(merchant, names) == EXPECTED


def test_running_it_twice_changes_nothing(fake_stripe, sync):
    merchant, events, names = build_scenario(fake_stripe)
    in_stripe(fake_stripe, events)
    sync("--merchant", merchant.slug)
    after_first = commissions(merchant)
    stored = list(StripeEvent.objects.for_merchant(merchant).order_by("pk").values("pk", "stripe_id", "status"))

    sync("--merchant", merchant.slug)

    first, second = StripeSync.objects.for_merchant(merchant).order_by("pk")
    assert (first.events_stored, second.events_seen, second.events_stored) == (19, 19, 0)
    assert list(StripeEvent.objects.for_merchant(merchant).order_by("pk").values("pk", "stripe_id", "status")) == stored
    assert commissions(merchant) == after_first and outcome(merchant, names) == EXPECTED


def test_it_pages_through_more_than_a_hundred_events(fake_stripe, merchant, sync):
    events = in_stripe(fake_stripe, customers_created(merchant, 250))
    # Events of types the webhook does not handle are not asked for.
    fake_stripe.add_event(
        make_event("plan.created", {"id": "plan_x", "object": "plan"}, account=merchant.stripe_account_id)
    )

    sync("--merchant", merchant.slug)

    newest_first = [e["id"] for e in reversed(events)]
    calls = fake_stripe.requests_to(EVENTS, "GET")
    assert [c.query.get("starting_after") for c in calls] == [None, newest_first[99], newest_first[199]]
    run = StripeSync.objects.for_merchant(merchant).get()
    for call in calls:
        assert call.stripe_account == merchant.stripe_account_id
        assert call.query["limit"] == "100"
        assert call.query["created[gte]"] == str(int(run.since.timestamp()))
        assert sorted(v for k, v in call.query.items() if k.startswith("types[")) == sorted(WEBHOOK_EVENT_TYPES)
    assert (run.status, run.pages, run.events_seen, run.events_stored) == ("succeeded", 3, 250, 250)
    stored = StripeEvent.objects.for_merchant(merchant)
    assert list(stored.order_by("pk").values_list("stripe_id", flat=True)) == [e["id"] for e in events]
    assert set(stored.values_list("status", flat=True)) == {StripeEvent.Status.PROCESSED}


def test_a_run_handed_over_to_a_fresh_task_goes_on_from_its_cursor(
    fake_stripe, merchant, django_capture_on_commit_callbacks
):
    events = in_stripe(fake_stripe, customers_created(merchant, 250))
    with django_capture_on_commit_callbacks(execute=True):
        run, created = request_stripe_sync(merchant, trigger=StripeSync.Trigger.BUTTON, enqueue=False)
        # A budget spent after the first page: the rest goes to a fresh task (run at once here: tasks are eager).
        run = run_stripe_sync(run.pk, budget_seconds=0)

    assert created and run is not None
    assert (run.status, run.pages, run.events_seen, run.events_stored) == ("succeeded", 3, 250, 250)
    assert len(fake_stripe.requests_to(EVENTS)) == 3
    assert StripeEvent.objects.for_merchant(merchant).count() == len(events)
    # A redelivered task finds the run finished: nothing is read again.
    assert run_stripe_sync(run.pk) is None
    assert len(fake_stripe.requests_to(EVENTS)) == 3


def test_since_is_honoured_and_capped_at_thirty_days(fake_stripe, merchant, sync):
    today = timezone.now()
    account = merchant.stripe_account_id
    ago = {
        days: fake_stripe.add_event(
            make_event(
                "customer.created", customer(), account=account, created=int((today - timedelta(days=days)).timestamp())
            )
        )
        for days in (40, 20, 5)
    }
    since = (today - timedelta(days=10)).date()

    sync("--merchant", merchant.slug, "--since", since.isoformat())

    first = StripeSync.objects.for_merchant(merchant).get()
    assert first.since == datetime(since.year, since.month, since.day, tzinfo=UTC)
    assert fake_stripe.requests_to(EVENTS)[0].query["created[gte]"] == str(int(first.since.timestamp()))
    assert list(StripeEvent.objects.for_merchant(merchant).values_list("stripe_id", flat=True)) == [ago[5]["id"]]

    _, err = sync("--merchant", merchant.slug, "--since", (today - timedelta(days=60)).isoformat())

    assert "more than 30 days ago" in err
    second = StripeSync.objects.for_merchant(merchant).latest("pk")
    assert abs(second.since - (today - timedelta(days=30))) < timedelta(minutes=1)
    assert set(StripeEvent.objects.for_merchant(merchant).values_list("stripe_id", flat=True)) == {
        ago[5]["id"],
        ago[20]["id"],
    }
    assert second.events_stored == 1


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01"])
def test_a_since_that_is_no_date_is_refused(merchant, sync, value):
    with pytest.raises(CommandError, match="is not an ISO date"):
        sync("--merchant", merchant.slug, "--since", value)
    assert not StripeSync.objects.exists()


def test_a_since_in_the_future_is_refused(merchant, sync):
    with pytest.raises(CommandError, match="in the future"):
        sync("--since", (timezone.now() + timedelta(days=2)).date().isoformat())
    assert not StripeSync.objects.exists()


# --- errors ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_one_merchant_refused_by_stripe_does_not_stop_the_others(
    fake_stripe, merchant, other_merchant, sync, status, capsys
):
    in_stripe(fake_stripe, customers_created(merchant, 3))
    theirs = in_stripe(fake_stripe, customers_created(other_merchant, 3))
    fake_stripe.deny_access(merchant.stripe_account_id, status=status)

    with pytest.raises(CommandError, match="1 of 2 checks failed"):
        sync()

    refused = StripeSync.objects.for_merchant(merchant).get()
    assert refused.status == StripeSync.Status.FAILED
    assert refused.error.startswith(
        f"Stripe refused access to the account {merchant.stripe_account_id} (HTTP {status}): Afficone's access may "
        "have been revoked in the Stripe dashboard. Reconnect Stripe, then check again."
    )
    assert not StripeEvent.objects.for_merchant(merchant).exists()
    merchant.refresh_from_db()
    assert merchant.is_stripe_connected  # a refusal is reported, not taken for a disconnection
    checked = StripeSync.objects.for_merchant(other_merchant).get()
    assert (checked.status, checked.events_stored) == ("succeeded", 3)
    assert {e["id"] for e in theirs} == set(
        StripeEvent.objects.for_merchant(other_merchant).values_list("stripe_id", flat=True)
    )


def test_rate_limits_and_server_errors_are_retried_with_back_off(fake_stripe, merchant, sync):
    events = in_stripe(fake_stripe, customers_created(merchant, 150))
    fake_stripe.fail(
        EVENTS,
        status=429,
        times=2,
        body={"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."}},
    )

    sync("--merchant", merchant.slug)

    assert len(fake_stripe.requests_to(EVENTS)) == 4  # two refusals, then both pages
    fake_stripe.fail(EVENTS, status=503, times=3, after=1, should_retry=False)
    more = in_stripe(fake_stripe, customers_created(merchant, 150))

    sync("--merchant", merchant.slug)

    assert len(fake_stripe.requests_to(EVENTS)) == 4 + 1 + 3 + 2  # 3 pages now, the second asked four times
    first, second = StripeSync.objects.for_merchant(merchant).order_by("pk")
    assert (first.status, first.events_stored, second.status, second.events_stored) == (
        "succeeded",
        150,
        "succeeded",
        150,
    )
    assert StripeEvent.objects.for_merchant(merchant).count() == len(events) + len(more)


def test_errors_that_persist_end_the_run_with_what_was_read_stored(fake_stripe, merchant, sync, settings):
    events = in_stripe(fake_stripe, customers_created(merchant, 150))
    attempts = settings.STRIPE_SYNC_RETRIES + 1
    fake_stripe.fail(EVENTS, status=503, times=attempts, after=1, should_retry=False)

    with pytest.raises(CommandError, match="1 of 1 checks failed"):
        sync("--merchant", merchant.slug)

    failed = StripeSync.objects.for_merchant(merchant).get()
    assert failed.status == StripeSync.Status.FAILED
    assert failed.error == (
        f"Stripe had a problem (HTTP 503), {attempts} times in a row. The events read until then were stored; the "
        "next check goes on."
    )
    assert (failed.pages, failed.events_seen, failed.events_stored) == (1, 100, 100)
    assert StripeEvent.objects.for_merchant(merchant).count() == 100

    sync("--merchant", merchant.slug)  # Stripe is back

    assert StripeSync.objects.for_merchant(merchant).latest("pk").events_stored == 50
    assert StripeEvent.objects.for_merchant(merchant).count() == len(events)


# --- who is checked -------------------------------------------------------------------------------------------------


def test_a_disconnected_merchant_is_skipped(
    fake_stripe, merchant, other_merchant, sync, django_capture_on_commit_callbacks
):
    mark_stripe_disconnected(other_merchant)
    in_stripe(fake_stripe, customers_created(other_merchant, 2))

    with django_capture_on_commit_callbacks(execute=True):
        assert sync_connected_merchants() == 1
    with pytest.raises(CommandError, match="is not connected to Stripe"):
        sync("--merchant", other_merchant.slug)
    sync()

    assert StripeSync.objects.for_merchant(merchant).count() == 2
    assert not StripeSync.objects.for_merchant(other_merchant).exists()
    assert {c.stripe_account for c in fake_stripe.requests_to(EVENTS)} == {merchant.stripe_account_id}


def test_one_check_at_a_time_per_merchant(merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first, created = request_stripe_sync(merchant, trigger=StripeSync.Trigger.BUTTON)
        again, created_again = request_stripe_sync(merchant, trigger=StripeSync.Trigger.BUTTON)

    assert (created, created_again, again) == (True, False, first)
    assert len(callbacks) == 1  # one task enqueued
    # One that made no progress for long is taken as dead and replaced.
    StripeSync.objects.filter(pk=first.pk).update(updated_at=timezone.now() - STALE - timedelta(seconds=1))
    with django_capture_on_commit_callbacks():
        replacement, created = request_stripe_sync(merchant, trigger=StripeSync.Trigger.BUTTON)
    first.refresh_from_db()
    assert created and replacement != first
    assert (first.status, first.error) == (StripeSync.Status.FAILED, INTERRUPTED)


def test_the_nightly_check_reads_on_from_what_earlier_checks_covered(merchant):
    today = timezone.now()
    merchant.stripe_connected_at = today - timedelta(days=90)
    assert nightly_since(merchant, now=today) == today - timedelta(days=30)
    merchant.stripe_connected_at = today - timedelta(days=3)
    assert nightly_since(merchant, now=today) == merchant.stripe_connected_at  # not before the connection
    merchant.stripe_connected_at = today - timedelta(days=90)
    done = dict(merchant=merchant, account=merchant.stripe_account_id, trigger="command", status="succeeded")
    StripeSync.objects.create(**done, since=today - timedelta(days=30), started_at=today - timedelta(days=2))
    # A finished run that leaves a gap behind it does not count.
    StripeSync.objects.create(**done, since=today - timedelta(hours=20), started_at=today - timedelta(hours=1))
    assert nightly_since(merchant, now=today) == today - timedelta(days=3)
    # One that closes the gap: now the later one counts too.
    StripeSync.objects.create(**done, since=today - timedelta(days=2, hours=1), started_at=today - timedelta(hours=5))
    assert nightly_since(merchant, now=today) == today - timedelta(days=1, hours=1)
    # Failed runs and runs of another account cover nothing.
    StripeSync.objects.create(**{**done, "status": "failed"}, since=today - timedelta(days=1), started_at=today)
    StripeSync.objects.create(**{**done, "account": "acct_old"}, since=today - timedelta(days=1), started_at=today)
    assert nightly_since(merchant, now=today) == today - timedelta(days=1, hours=1)


def test_events_for_the_webhook_still_go_through_it(client, fake_stripe, merchant, sync):
    """The webhook delivering an event the check already stored is a duplicate like any other."""
    (event,) = in_stripe(fake_stripe, customers_created(merchant, 1))
    sync("--merchant", merchant.slug)

    assert post_event(client, event).status_code == 200
    assert StripeEvent.objects.filter(stripe_id=event["id"]).count() == 1
