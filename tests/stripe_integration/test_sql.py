"""The hand-written SQL behind Stripe events gives what the ORM's statements give (stripe_integration/services/sql.py),
and the session settings and locks of afficone/rawsql.py do what they say.

Each statement and its ORM version run on the same rows, each in a transaction rolled back after, and what they
wrote and returned is compared.
"""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from afficone import rawsql
from stripe_integration.models import StripeEvent
from stripe_integration.services import UNKNOWN_ACCOUNT, sql
from stripe_integration.services.claiming import claim_with_orm
from tenants.models import Merchant
from tests.factories import MerchantFactory
from tests.stripe_events import customer, encode, make_event

pytestmark = pytest.mark.django_db

UNMATCHED = (StripeEvent.Status.IGNORED, UNKNOWN_ACCOUNT)


def on_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a Postgres statement (DATABASE_URL); `make test` runs on Postgres when it is reachable")


def rolled_back(run):
    """`run()` and the rows it left, in a transaction that is then rolled back."""
    with transaction.atomic():
        result = run()
        rows = {row.pk: row_values(row) for row in StripeEvent.objects.order_by("pk")}
        transaction.set_rollback(True)
    return result, rows


def row_values(event: StripeEvent) -> dict:
    values = model_to_dict(event)
    values.pop("id", None)
    values["received_at"] = event.received_at is not None
    return values


PAYLOAD = make_event("customer.created", customer(), account="acct_known", id="evt_sql_1")
CREATED = timezone.now().replace(microsecond=0)


def new_event(account: str, *, stripe_id: str = "evt_sql_1") -> StripeEvent:
    payload = dict(PAYLOAD, account=account, id=stripe_id)
    return StripeEvent(
        stripe_id=stripe_id,
        type=payload["type"],
        account=account,
        payload=payload,
        stripe_created_at=CREATED,
    )


def insert_with_orm(event: StripeEvent, *, unmatched) -> bool:
    """What sql.insert_event_unless_stored does, in the ORM's statements."""
    if StripeEvent.objects.filter(stripe_id=event.stripe_id).exists():
        return False
    event.merchant = Merchant.objects.filter(stripe_account_id=event.account).first() if event.account else None
    if event.merchant is None:
        event.status, event.error = unmatched
    event.save()
    return True


@pytest.mark.parametrize("account", ["acct_known", "acct_nobody", ""])
@pytest.mark.parametrize("with_raw_text", [False, True])
def test_storing_an_event_gives_what_the_orm_gives(merchant, account, with_raw_text):
    merchant.stripe_account_id = "acct_known"
    merchant.save()
    MerchantFactory(stripe_account_id="acct_other")  # not matched
    results = []
    for insert in (
        lambda event: sql.insert_event_unless_stored(
            event, raw=encode(event.payload).decode() if with_raw_text else None, unmatched=UNMATCHED
        ),
        lambda event: insert_with_orm(event, unmatched=UNMATCHED),
    ):

        def run(insert=insert):
            event = new_event(account)
            stored = insert(event)
            again = insert(new_event(account))  # the same event id again: a duplicate
            return stored, again, event.merchant_id, event.status, event.error

        results.append(rolled_back(run))
    (by_sql, sql_rows), (by_orm, orm_rows) = results
    assert by_sql == by_orm
    assert by_sql[:2] == (True, False)
    assert list(sql_rows.values()) == list(orm_rows.values())
    [row] = sql_rows.values()
    assert row["merchant"] == (merchant.pk if account == "acct_known" else None)


def runnable_events(merchant) -> list[StripeEvent]:
    """A pending event, a processed one, a pending one, a waiting one and a pending one without merchant."""
    rows = []
    for n, (status, owner) in enumerate(
        [
            ("pending", merchant),
            ("processed", merchant),
            ("pending", merchant),
            ("waiting", merchant),
            ("pending", None),
        ]
    ):
        event = new_event(merchant.stripe_account_id, stripe_id=f"evt_claim_{n}")
        event.merchant, event.status = owner, status
        event.save()
        rows.append(event)
    return rows


def claimed(event: StripeEvent | None):
    if event is None:
        return None
    return row_values(event) | {"merchant_name": event.merchant.name if event.merchant else None}


def test_claiming_an_event_gives_what_the_orm_gives(merchant):
    on_postgres()
    events = runnable_events(merchant)
    now = timezone.now()
    changes = dict(status="processed", waiting_for="", error="", traceback="", last_attempt_at=now, processed_at=now)
    cases = [
        (events[0].pk, 0),  # pending, by id
        (events[1].pk, 0),  # processed: not runnable
        (events[3].pk, 0),  # waiting, by id
        (None, 0),  # the oldest pending event
        (None, events[0].pk),  # the oldest pending event after the first
        (None, events[2].pk),  # none after the last one with a merchant
    ]
    for event_id, after in cases:
        by_sql = rolled_back(
            lambda event_id=event_id, after=after: claimed(sql.claim_event(event_id, changes, after=after))
        )
        by_orm = rolled_back(
            lambda event_id=event_id, after=after: claimed(claim_with_orm(event_id, changes, after=after))
        )
        assert by_sql == by_orm, (event_id, after)
    assert rolled_back(lambda: claimed(sql.claim_event(None, changes, after=events[0].pk)))[0]["stripe_id"] == (
        "evt_claim_2"
    )


def test_waking_the_events_waiting_for_a_payment_gives_what_the_orm_gives(merchant, other_merchant):
    for owner, status, key in [
        (merchant, "waiting", "pi_1"),
        (merchant, "waiting", "ch_1"),
        (merchant, "waiting", "cus_1"),  # another key
        (merchant, "processed", "pi_1"),  # not waiting
        (other_merchant, "waiting", "pi_1"),  # another merchant's
    ]:
        event = new_event(owner.stripe_account_id, stripe_id=f"evt_wake_{owner.pk}_{status}_{key}")
        event.merchant, event.status, event.waiting_for = owner, status, key
        event.save()
    now = timezone.now() + timedelta(seconds=5)
    keys = ["ch_1", "pi_1"]

    by_sql = rolled_back(lambda: sql.wake_events(merchant.pk, keys, now=now))
    by_orm = rolled_back(
        lambda: StripeEvent.objects.filter(merchant_id=merchant.pk, status="waiting", waiting_for__in=keys).update(
            status="pending", enqueued_at=now
        )
    )
    assert by_sql == by_orm
    assert by_sql[0] == 2
    assert rolled_back(lambda: sql.wake_events(merchant.pk, [], now=now))[0] == 0


def show_synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_committing_asynchronously_leaves_the_session_as_it_was():
    on_postgres()
    assert show_synchronous_commit() == "on"
    with transaction.atomic():
        rawsql.commit_asynchronously()
        assert show_synchronous_commit() == "off"
        rawsql.commit_synchronously()
        assert show_synchronous_commit() == "on"
        rawsql.commit_asynchronously()
    assert show_synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_a_session_committing_asynchronously_until_reset():
    on_postgres()
    rawsql.session_commits_asynchronously()
    with transaction.atomic():
        assert show_synchronous_commit() == "off"
    assert show_synchronous_commit() == "off"
    rawsql.session_commits_by_default()
    assert show_synchronous_commit() == "on"


def held_advisory_locks() -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT classid::bigint, objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 2 AND pid = pg_backend_pid() ORDER BY 1, 2"
        )
        return [tuple(row) for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_an_advisory_lock_is_held_until_the_transaction_ends():
    on_postgres()
    with transaction.atomic():
        rawsql.advisory_xact_lock(7, -5)
        rawsql.advisory_xact_lock(7, 12)
        assert held_advisory_locks() == [(7, 12), (7, 2**32 - 5)]  # pg_locks shows the keys as unsigned
    assert held_advisory_locks() == []
