"""Stripe events are processed by drainers (stripe_integration/drainers.py), not by a task each.

What a merchant or operator notices: every paid checkout earns exactly one commission, however many events arrive at
once and however many drainers run; a burst costs no task per event; an event never sits pending because a drainer
slot was left behind by a killed worker; one broken event does not hold up the others; affiliates get one email per
commission (unless they turned them off). Slots are held by setting their keys in the cache, as a running drainer would.
"""

import threading
from datetime import timedelta

import pytest
from celery.signals import task_prerun
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from affiliates.models import Commission
from stripe_integration.drainers import drain, request_drain, requeue_stale_events
from stripe_integration.models import StripeEvent
from stripe_integration.services import store_event
from stripe_integration.slots import SLOT_KEY
from tests.conftest import requires_real_stack, wait_for
from tests.factories import AffiliateFactory, ReferralFactory
from tests.stripe_events import checkout_session, make_event, post_event

DRAIN_TASK = "stripe_integration.tasks.drain_stripe_events_task"
NOTICE_TASK = "affiliates.tasks.notify_new_commissions_task"
# How long a slot held here stays held: as a running drainer's, which its heartbeat renews (slots.SLOT_TTL is seconds).
BUSY = 60


def slot_keys() -> list[str]:
    return [SLOT_KEY.format(slot) for slot in range(max(1, settings.STRIPE_EVENT_DRAINERS))]


def hold_every_slot() -> None:
    """As if every drainer were busy (or its worker had been killed before giving its slot back)."""
    for key in slot_keys():
        cache.set(key, 1, BUSY)


def held_slots() -> list[str]:
    return [key for key in slot_keys() if cache.get(key) is not None]


@pytest.fixture(autouse=True)
def free_slots():
    """Every test starts, and leaves, with no drainer slot taken."""
    cache.delete_many(slot_keys())
    yield
    cache.delete_many(slot_keys())


@pytest.fixture
def task_runs():
    """(task name, args) of every task that runs in this process (eager tasks run here), in order."""
    runs = []

    def record(sender=None, args=None, **_):
        runs.append((sender.name, tuple(args or ())))

    task_prerun.connect(record, weak=False)
    yield runs
    task_prerun.disconnect(record)


def post_checkouts(client, merchant, amounts, *, affiliate=None) -> list[dict]:
    """One paid checkout per amount (in cents), each by a referral of its own, posted signed through the webhook."""
    sessions = []
    for amount in amounts:
        referral = (
            ReferralFactory(affiliate=affiliate)
            if affiliate
            else ReferralFactory(
                affiliate__merchant=merchant, affiliate__program=merchant.programs.get(is_default=True)
            )
        )
        session = checkout_session(client_reference_id=referral.rid, amount_total=amount)
        event = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
        assert post_event(client, event).status_code == 200
        sessions.append(session)
    return sessions


def earned(merchant) -> dict[str, int]:
    """Commission amount by payment (PaymentIntent id); a payment commissioned twice would fail the unique check."""
    rows = list(Commission.objects.for_merchant(merchant).values_list("source_id", "amount"))
    by_payment = dict(rows)
    assert len(by_payment) == len(rows)
    return by_payment


def expected(sessions) -> dict[str, int]:
    return {session["payment_intent"]: session["amount_total"] // 5 for session in sessions}  # the default 20 %


def statuses(merchant) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in StripeEvent.objects.for_merchant(merchant).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


# --- bursts ---------------------------------------------------------------------------------------------------------


def test_a_burst_while_every_drainer_is_busy_enqueues_nothing_and_one_drainer_clears_it(client, merchant, task_runs):
    """Thirty payments arrive while every drainer is at work: the webhook enqueues no task for them (they wait, pending,
    for a running drainer), and that one drainer processes them all, one commission each, then frees its slot."""
    hold_every_slot()
    sessions = post_checkouts(client, merchant, [10000 + 100 * n for n in range(30)])

    assert request_drain() is False
    assert [name for name, _ in task_runs if name == DRAIN_TASK] == []
    assert statuses(merchant) == {StripeEvent.Status.PENDING: 30}
    assert not Commission.objects.exists()

    assert drain(0) == 30  # the drainer in slot 0, still running
    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 30}
    assert earned(merchant) == expected(sessions)
    assert held_slots() == slot_keys()[1:]  # its slot given back; the other drainers' are theirs

    assert request_drain() is True  # the freed slot is taken by the next ask
    assert [args for name, args in task_runs if name == DRAIN_TASK] == [(0,)]
    assert held_slots() == slot_keys()[1:]  # that drainer found nothing to do and gave the slot back too


def test_a_slot_left_by_a_killed_worker_does_not_strand_events(
    client, merchant, django_capture_on_commit_callbacks, task_runs
):
    """Workers were killed while holding every drainer slot: payments that arrive meanwhile wait, and once they have
    been pending a minute the periodic sweep asks for a drainer again; by then the dead workers' slots have expired
    (slots.SLOT_TTL), so one starts and processes them."""
    hold_every_slot()
    sessions = post_checkouts(client, merchant, [5000, 7000, 9000])
    assert statuses(merchant) == {StripeEvent.Status.PENDING: 3}

    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stale_events() == 0  # just stored: a drainer may well still reach them
    assert statuses(merchant) == {StripeEvent.Status.PENDING: 3}

    cache.delete_many(slot_keys())  # a minute later the dead workers' slots have long expired
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stale_events(now=timezone.now() + timedelta(seconds=61)) == 3
    assert [args for name, args in task_runs if name == DRAIN_TASK] == [(0,)]  # one drainer, in the first slot
    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 3}
    assert earned(merchant) == expected(sessions)
    assert held_slots() == []  # and it gave its slot back


def test_a_long_backlog_does_not_get_one_more_drainer_every_minute(
    client, merchant, django_capture_on_commit_callbacks, task_runs
):
    """Every drainer slot is held by a drainer still working through a long backlog while payments keep arriving:
    the sweep, finding payments pending for over a minute, starts no extra drainers (they would each keep a worker
    process busy until the backlog is gone, leaving none for emails and click flushes)."""
    now = timezone.now()
    for minute in (1, 2, 3):
        hold_every_slot()  # renewed by the running drainers after every chunk
        post_checkouts(client, merchant, [10000 + minute])
        with django_capture_on_commit_callbacks(execute=True):
            assert requeue_stale_events(now=now + timedelta(minutes=minute, seconds=1)) == 1  # the new one
    assert [name for name, _ in task_runs if name == DRAIN_TASK] == []
    assert statuses(merchant) == {StripeEvent.Status.PENDING: 3}  # left to the drainers holding the slots


def test_an_event_woken_behind_the_drainer_is_still_processed_in_the_same_run(client, merchant, affiliate):
    """A drainer goes on from its last event rather than from the oldest; an invoice that waited for its customer
    (an older event) and is woken by a later one must still be taken before the drainer leaves."""
    from tests.stripe_events import customer, invoice, new_id

    referral = ReferralFactory(affiliate=affiliate)
    cus = customer(metadata={"_afficoneRef": referral.rid})
    inv = invoice(customer=cus["id"], subscription=new_id("sub"))
    hold_every_slot()  # both stored before any drainer runs, the invoice first
    for kind, obj in (("invoice.paid", inv), ("customer.created", cus)):
        assert post_event(client, make_event(kind, obj, account=merchant.stripe_account_id)).status_code == 200
    cache.delete(slot_keys()[0])
    cache.set(slot_keys()[0], 1, BUSY)  # the slot this drainer was started in

    assert drain(0) == 3  # the invoice (parks), the customer (wakes the invoice), the invoice again
    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 2}
    assert list(Commission.objects.for_merchant(merchant).values_list("source_id", flat=True)) == [inv["id"]]


def test_a_broken_event_fails_alone_and_the_drainer_goes_on(client, merchant, affiliate):
    """A checkout Stripe would never send (its amount is not a number) is marked failed with its error, for the
    sweep to retry; the payments stored after it in the same backlog still earn their commissions."""
    hold_every_slot()
    before = post_checkouts(client, merchant, [10000], affiliate=affiliate)
    broken = checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid, amount_total="lots")
    broken_event = make_event("checkout.session.completed", broken, account=merchant.stripe_account_id)
    assert post_event(client, broken_event).status_code == 200
    after = post_checkouts(client, merchant, [20000, 30000], affiliate=affiliate)

    assert drain(0) == 4

    failed = StripeEvent.objects.get(stripe_id=broken_event["id"])
    assert (failed.status, failed.attempts) == (StripeEvent.Status.FAILED, 1)
    assert "ValueError" in failed.error and "Traceback" in failed.traceback
    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 3, StripeEvent.Status.FAILED: 1}
    assert earned(merchant) == expected(before + after)
    assert SLOT_KEY.format(0) not in held_slots()


# --- emails ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_drained_backlog_emails_each_commission_to_its_affiliate_in_one_task(client, merchant, mailoutbox, task_runs):
    """Affiliates get one email per new commission, with its amount, even when a drainer records many in a row;
    an affiliate who turned the emails off gets none. The drainer sends them all with one task."""
    program = merchant.programs.get(is_default=True)
    alice = AffiliateFactory(merchant=merchant, program=program, email="alice@example.net")
    bob = AffiliateFactory(merchant=merchant, program=program, email="bob@example.net", notify_on_commission=False)
    carol = AffiliateFactory(merchant=merchant, program=program, email="carol@example.net")
    hold_every_slot()
    sessions = (
        post_checkouts(client, merchant, [10000, 25000], affiliate=alice)
        + post_checkouts(client, merchant, [40000, 45000], affiliate=bob)
        + post_checkouts(client, merchant, [50000], affiliate=carol)
    )
    assert statuses(merchant) == {StripeEvent.Status.PENDING: 5} and mailoutbox == []

    cache.delete_many(slot_keys())  # the busy drainers are done; the next ask starts one
    assert request_drain() is True

    assert earned(merchant) == expected(sessions)
    assert sorted((tuple(mail.to), mail.subject) for mail in mailoutbox) == [
        (("alice@example.net",), "You earned $20.00 from Acme Analytics"),
        (("alice@example.net",), "You earned $50.00 from Acme Analytics"),
        (("carol@example.net",), "You earned $100.00 from Acme Analytics"),
    ]
    commission_ids = sorted(Commission.objects.for_merchant(merchant).values_list("pk", flat=True))
    notices = [args for name, args in task_runs if name == NOTICE_TASK]
    assert [sorted(ids) for (ids,) in notices] == [commission_ids]  # bob's too: the task skips him
    assert [name for name, _ in task_runs].count(DRAIN_TASK) == 1


# --- concurrency ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_drainers_on_one_backlog_process_each_event_once(client, merchant):
    """Two drainers at work on the same backlog at the same moment: every payment earns one commission and every
    event is processed exactly once (one attempt), whichever drainer took it."""
    requires_real_stack()  # FOR UPDATE SKIP LOCKED between two connections: Postgres
    hold_every_slot()
    sessions = post_checkouts(client, merchant, [1000 + 10 * n for n in range(60)])
    cache.delete_many(slot_keys())
    assert statuses(merchant) == {StripeEvent.Status.PENDING: 60}

    start = threading.Barrier(2)
    done: dict[int, int] = {}
    errors: list[BaseException] = []

    def drainer(slot: int) -> None:
        try:
            cache.set(SLOT_KEY.format(slot), 1, BUSY)  # as request_drain takes it for the task
            start.wait(timeout=10)
            done[slot] = drain(slot)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=drainer, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads) and errors == []

    assert sum(done.values()) == 60
    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 60}
    assert set(StripeEvent.objects.for_merchant(merchant).values_list("attempts", flat=True)) == {1}
    assert earned(merchant) == expected(sessions)
    assert held_slots() == []


@pytest.mark.django_db(transaction=True)
def test_a_payment_arriving_while_the_drainer_leaves_is_not_stranded(client, merchant, affiliate):
    """A payment arrives just as the only free drainer has found nothing left and is about to give its slot back: its
    ask finds every slot taken and enqueues nothing, and the leaving drainer, looking once more, processes it (it
    does not sit pending until the sweep a minute later)."""
    requires_real_stack()  # the late payment is stored from a second connection while the drainer's is open
    hold_every_slot()
    sessions = post_checkouts(client, merchant, [10000, 20000], affiliate=affiliate)
    late = checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid, amount_total=30000)
    late_event = make_event("checkout.session.completed", late, account=merchant.stripe_account_id)
    asks: list[bool] = []

    def store_late_payment() -> None:
        try:
            store_event(late_event)  # as the webhook stores it, then asks: every slot is taken
            asks.append(request_drain())
        finally:
            connection.close()

    claims: list[bool] = []  # whether each of the drainer's claims found an event

    def arrive_when_nothing_is_left(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "SKIP LOCKED" in sql:
            found = context["cursor"].rowcount > 0
            if not found and claims[-1:] == [False] and not asks:  # a claim found nothing twice: about to leave
                thread = threading.Thread(target=store_late_payment)
                thread.start()
                thread.join(timeout=30)
            claims.append(found)
        return result

    with connection.execute_wrapper(arrive_when_nothing_is_left):
        processed = drain(0)

    assert asks == [False]  # the late payment's ask started no drainer
    assert processed == 3
    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 3}
    assert earned(merchant) == expected(sessions + [late])
    assert held_slots() == slot_keys()[1:]


@pytest.mark.django_db(transaction=True)
def test_a_drainer_with_nothing_it_can_take_leaves_instead_of_spinning(client, merchant, affiliate):
    """The only pending event is held by another drainer, whose handler is slow (a Stripe API call, a lock): a second
    drainer that finds nothing it can take should exit and leave that event to its holder, not loop at full speed
    against Postgres and Redis for as long as the other one takes."""
    requires_real_stack()  # the other drainer's row lock is held from a second connection
    hold_every_slot()  # slot 0 taken for the drainer below, as request_drain takes it for the task
    post_checkouts(client, merchant, [10000], affiliate=affiliate)
    event = StripeEvent.objects.get(merchant=merchant)
    held, release = threading.Event(), threading.Event()

    def other_drainer() -> None:
        try:
            with transaction.atomic():
                # What another drainer's claim holds while the event's handler runs.
                StripeEvent.objects.select_for_update().get(pk=event.pk)
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    claims = 0

    def count_claims(execute, sql, params, many, context):
        nonlocal claims
        if "SKIP LOCKED" in sql:
            claims += 1
            if claims == 200:
                release.set()  # the other drainer commits: the spinning one can take the event and stop
        return execute(sql, params, many, context)

    thread = threading.Thread(target=other_drainer)
    thread.start()
    try:
        assert held.wait(timeout=10)
        with connection.execute_wrapper(count_claims):
            drain(0)
    finally:
        release.set()
        thread.join(timeout=30)

    # One claim that finds nothing, one final look that skips the held event (both SKIP LOCKED), and out.
    assert claims <= 3, (
        f"a drainer that could take nothing tried {claims} times while another drainer held the only pending event: "
        "its final look (drainers._claimable_exists) must skip the events other drainers hold"
    )
    assert held_slots() == slot_keys()[1:]


# --- the real stack -------------------------------------------------------------------------------------------------


@pytest.mark.worker
def test_forty_checkouts_posted_at_once_each_earn_one_commission_on_the_real_worker(client, merchant, celery_worker):
    """Forty payments posted to the webhook as fast as it answers, processed by a real Celery worker through the
    Redis broker: one commission per payment with its amount, no event left pending or failed, and once the drainers
    are done no slot stays taken."""
    sessions = post_checkouts(client, merchant, [2000 + 100 * n for n in range(40)])

    wait_for(lambda: statuses(merchant) == {StripeEvent.Status.PROCESSED: 40}, timeout=60)
    assert earned(merchant) == expected(sessions)
    assert set(StripeEvent.objects.for_merchant(merchant).values_list("attempts", flat=True)) == {1}
    wait_for(lambda: held_slots() == [], timeout=30)
    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 40}
