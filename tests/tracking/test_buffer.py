"""The Redis click buffer: answered at once, written by the flush, nothing lost or doubled.

These run against the Redis that `make test` provides (REDIS_URL).
"""

import json
import threading
import time

import pytest
from django.db import transaction

from affiliates.models import Program, Referral
from tests.conftest import requires_real_stack, wait_for
from tracking import buffer, storage
from tracking import services as tracking_services
from tracking.models import Click
from tracking.services import resolve_reference
from tracking.tasks import flush_click_buffer_task

from .conftest import click_body


@pytest.fixture
def buffered(settings):
    if not settings.REDIS_URL:
        requires_real_stack()
    settings.TRACKING_BUFFER = True
    r = buffer.client()
    r.delete(buffer.STREAM, buffer.LOCK)
    yield r
    r.delete(buffer.STREAM, buffer.LOCK)


def test_click_is_answered_at_once_and_written_by_the_flush(
    buffered, db, django_capture_on_commit_callbacks, merchant, affiliate, post_click
):
    response = post_click(click_body(merchant))

    assert response.status_code == 200
    rid = response.json()["referral"]
    assert Click.objects.count() == 0 and buffer.backlog() == 1

    with django_capture_on_commit_callbacks(execute=True):  # the commit acknowledges the entries
        assert flush_click_buffer_task() == 1

    click = Click.objects.get()
    assert click.referral.rid == rid and click.affiliate == affiliate
    assert click.landing_url == "https://shop.test/pricing?ref=alice"
    assert buffer.backlog() == 0


def test_first_click_finds_a_referral_still_in_the_buffer(buffered, db, merchant, affiliate, bob, post_click):
    Program.objects.filter(merchant=merchant).update(attribution=Program.Attribution.FIRST_CLICK)
    first = post_click(click_body(merchant, code="alice")).json()["referral"]
    second = post_click(click_body(merchant, code="bob", p=first)).json()["referral"]

    assert second == first
    flush_click_buffer_task()
    assert Referral.objects.get().rid == first
    assert Click.objects.filter(referral__rid=first).count() == 2


def test_another_merchants_pending_referral_is_not_kept(buffered, db, merchant, other_merchant, affiliate, post_click):
    from tests.factories import AffiliateFactory

    AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get(), code="globex")
    Program.objects.update(attribution=Program.Attribution.FIRST_CLICK)
    theirs = post_click(click_body(other_merchant, code="globex")).json()["referral"]

    ours = post_click(click_body(merchant, code="alice", p=theirs)).json()["referral"]

    assert ours != theirs


def test_a_batch_written_twice_stores_each_click_once(buffered, db, merchant, affiliate, post_click):
    for _ in range(3):
        post_click(click_body(merchant))
    entries = [buffer._entry(fields) for _, fields in buffered.xrange(buffer.STREAM)]

    assert storage.store_clicks(entries) == 3
    assert storage.store_clicks(entries) == 0
    assert Click.objects.count() == 3 and Referral.objects.count() == 3


def test_clicks_of_a_deleted_affiliate_do_not_block_the_flush(
    buffered, db, django_capture_on_commit_callbacks, merchant, affiliate, bob, post_click
):
    post_click(click_body(merchant, code="alice"))
    post_click(click_body(merchant, code="bob"))
    bob.delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert flush_click_buffer_task() == 1
    assert Click.objects.get().affiliate == affiliate and buffer.backlog() == 0


@pytest.mark.worker
def test_clicks_read_by_a_worker_that_died_are_written_by_the_next(
    buffered, celery_worker, merchant, affiliate, post_click
):
    """A worker killed after reading, before writing and acknowledging.

    The entries stay pending and are claimed again."""
    for _ in range(5):
        assert post_click(click_body(merchant)).status_code == 200
    buffer._ensure_group(buffered)
    read = buffered.xreadgroup(buffer.GROUP, "worker-that-died", {buffer.STREAM: ">"}, count=100)
    ids = [message_id for message_id, _ in read[0][1]]
    assert len(ids) == 5
    # Pretend it died two minutes ago: the entries have been idle longer than CLAIM_IDLE_MS.
    buffered.xclaim(buffer.STREAM, buffer.GROUP, "worker-that-died", 0, ids, idle=buffer.CLAIM_IDLE_MS * 2)

    flush_click_buffer_task.delay()

    wait_for(lambda: Click.objects.count() == 5)
    wait_for(lambda: buffered.xpending(buffer.STREAM, buffer.GROUP)["pending"] == 0)
    assert sorted(Click.objects.values_list("referral__affiliate__code", flat=True)) == ["alice"] * 5


def test_clicks_are_written_directly_when_redis_is_down(buffered, db, merchant, affiliate, post_click, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = post_click(click_body(merchant))

    assert response.status_code == 200
    assert Click.objects.get().referral.rid == response.json()["referral"]


def test_rate_limit_and_refusals_hold_on_the_one_round_trip_path(
    buffered, db, merchant, affiliate, post_click, settings
):
    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 3
    assert post_click(click_body(merchant, code="nobody")).status_code == 404
    assert post_click(click_body(merchant, code="nobody")).status_code == 404  # now from the cache
    assert post_click(click_body(merchant), ip="198.51.100.1").status_code == 200  # resolves and caches the code
    answers = [post_click(click_body(merchant), ip="198.51.100.1").status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert buffer.backlog() == 3
    assert flush_click_buffer_task() == 3
    assert Click.objects.count() == 3


def test_an_unreadable_entry_does_not_block_the_ones_after_it(
    buffered, db, django_capture_on_commit_callbacks, merchant, affiliate, post_click
):
    buffer._ensure_group(buffered)
    buffered.xadd(buffer.STREAM, {"e": "{not json"})
    post_click(click_body(merchant))

    with django_capture_on_commit_callbacks(execute=True):
        assert flush_click_buffer_task() == 1
    assert Click.objects.count() == 1 and buffer.backlog() == 0


def test_a_caller_can_wait_for_a_running_flush_and_then_find_every_click(buffered, db, merchant, affiliate, post_click):
    rid = post_click(click_body(merchant)).json()["referral"]
    buffered.set(buffer.LOCK, "1", ex=60)  # another flusher is at work
    assert buffer.flush() == 0
    threading.Timer(0.3, buffered.delete, [buffer.LOCK]).start()  # ... and finishes

    assert buffer.flush(wait=5) == 1
    assert Referral.objects.filter(rid=rid).exists()


def test_a_payment_naming_a_referral_still_in_the_buffer_finds_it(
    buffered, db, django_capture_on_commit_callbacks, merchant, affiliate, post_click
):
    rid = post_click(click_body(merchant)).json()["referral"]
    assert not Referral.objects.filter(rid=rid).exists()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():  # then the commit
        referral = resolve_reference(merchant, rid)
        assert referral.rid == rid and referral.affiliate == affiliate
        assert buffer.backlog() == 1  # acknowledged only once the caller's transaction commits
    assert buffer.backlog() == 0
    assert Click.objects.get().referral == referral


def test_entries_flushed_in_a_transaction_that_rolls_back_are_written_again(
    buffered, db, django_capture_on_commit_callbacks, merchant, affiliate, post_click
):
    post_click(click_body(merchant))
    with pytest.raises(RuntimeError), transaction.atomic():
        assert buffer.flush() == 1
        raise RuntimeError("the caller's transaction fails")
    assert Click.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert buffer.flush(claim_idle_ms=0) == 1
    assert Click.objects.count() == 1 and buffer.backlog() == 0


def test_clicks_written_inside_a_stripe_drainer_wait_for_the_disk(
    buffered, transactional_db, merchant, affiliate, post_click
):
    """A drainer commits its events without waiting for the WAL flush (they can be re-run from the stored event), but
    clicks it writes on the way (a payment naming a referral id still in the buffer) are acknowledged in Redis once
    committed: that commit must be durable, or a Postgres crash would lose them for good."""
    from django.db import connection, transaction

    from stripe_integration.services import asynchronous_commits

    requires_real_stack()  # synchronous_commit is Postgres' setting

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    post_click(click_body(merchant))
    entries = [buffer._entry(fields) for _, fields in buffered.xrange(buffer.STREAM)]
    with asynchronous_commits():
        with transaction.atomic():
            assert synchronous_commit() == "off"  # an event's transaction
            assert storage.store_clicks(entries) == 1
            assert synchronous_commit() == "on"  # this one waits for the disk
        assert synchronous_commit() == "off"  # the next event's does not again
    assert synchronous_commit() == "on"  # the drainer leaves the connection as it found it


def test_the_pending_marker_and_the_entry_link_are_named_fields(buffered, db, merchant, affiliate, post_click):
    Program.objects.filter(merchant=merchant).update(attribution=Program.Attribution.FIRST_CLICK)
    buffered.delete(tracking_services._link_cache_key(merchant.public_key, "alice"))
    pushed = post_click(click_body(merchant)).json()["referral"]  # the code not cached yet: written by push()
    scripted = post_click(click_body(merchant)).json()["referral"]  # cached now: written by the accept script

    for rid in (pushed, scripted):
        marker = json.loads(buffered.get(buffer.PENDING_RID + rid))
        assert marker["merchant_id"] == merchant.pk
        assert abs(float(marker["created_at"]) - time.time()) < 60
    for _, fields in buffered.xrange(buffer.STREAM):
        assert json.loads(fields[b"link"]) == {
            "merchant_id": merchant.pk,
            "affiliate_id": affiliate.pk,
            "cookie_days": merchant.programs.get().cookie_days,
            "attribution": "first_click",
        }


def test_an_entry_and_a_marker_in_the_previous_releases_packed_format_are_still_read(
    buffered, db, django_capture_on_commit_callbacks, merchant, affiliate, bob, post_click
):
    Program.objects.filter(merchant=merchant).update(attribution=Program.Attribution.FIRST_CLICK)
    rid = post_click(click_body(merchant, code="alice")).json()["referral"]
    (message_id, fields), *_ = buffered.xrange(buffer.STREAM)
    entry = json.loads(fields[b"e"])
    # As the previous release wrote them: "merchant:affiliate:days:attribution" and "merchant_id:created_at".
    buffered.xdel(buffer.STREAM, message_id)
    days = merchant.programs.get().cookie_days
    buffered.xadd(buffer.STREAM, {"l": f"{merchant.pk}:{affiliate.pk}:{days}:first_click", "e": fields[b"e"]})
    buffered.set(buffer.PENDING_RID + rid, f"{merchant.pk}:{entry['created_at']}", ex=60)

    assert post_click(click_body(merchant, code="bob", p=rid)).json()["referral"] == rid  # the marker was read
    with django_capture_on_commit_callbacks(execute=True):
        assert flush_click_buffer_task() == 2
    assert Referral.objects.get().affiliate == affiliate
    assert Click.objects.filter(referral__rid=rid).count() == 2 and buffer.backlog() == 0
