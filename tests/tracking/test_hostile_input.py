"""Input that no browser sends: refused at the door, and never able to keep other clicks from being stored."""

import json

import pytest

from affiliates.models import Commission, Referral
from stripe_integration.models import StripeEvent
from tests.conftest import requires_real_stack
from tests.stripe_events import checkout_session, make_event, post_event
from tracking import buffer
from tracking.models import Click, SeenDomain, UnstoredClick
from tracking.tasks import flush_click_buffer_task

from .conftest import click_body

pytestmark = pytest.mark.django_db

NUL = "https://shop.test/pricing?ref=alice\x00"
LONE_SURROGATE = "https://shop.test/pricing?ref=alice\ud800"


@pytest.fixture
def buffered(settings):
    if not settings.REDIS_URL:
        requires_real_stack()
    settings.TRACKING_BUFFER = True
    r = buffer.client()
    r.delete(buffer.STREAM, buffer.LOCK)
    yield r
    r.delete(buffer.STREAM, buffer.LOCK)


@pytest.mark.parametrize("field", ["u", "r"])
@pytest.mark.parametrize("value", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("mode", ["direct", "buffered"])
def test_a_click_url_holding_a_nul_or_a_lone_surrogate_is_refused_and_nothing_is_stored(
    request, merchant, affiliate, post_click, field, value, mode
):
    request.getfixturevalue(mode)
    # json.dumps escapes both (\u0000, \ud800), as a crafted request would send them.
    response = post_click(json.dumps(click_body(merchant, **{field: value})))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and response.json()["error"]["field"] == field
    assert buffer.backlog() == 0
    assert Click.objects.count() == 0 and Referral.objects.count() == 0


@pytest.mark.parametrize("value", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
def test_a_beacon_url_holding_a_nul_or_a_lone_surrogate_is_refused(merchant, post_click, value):
    response = post_click(json.dumps({"k": merchant.public_key, "u": value}), path="/api/track/seen")

    assert response.status_code == 400 and response.json()["error"]["field"] == "u"
    assert SeenDomain.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/track/click", "/api/track/seen"])
def test_json_nested_thousands_of_levels_deep_is_refused(direct, merchant, affiliate, post_click, path):
    depth = 4000  # within the 8 KB body limit, far beyond what the decoder can follow
    response = post_click("[" * depth + "]" * depth, path=path)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert Click.objects.count() == 0 and SeenDomain.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/track/click", "/api/track/seen", "/api/track/adopt"])
def test_an_integer_longer_than_python_reads_is_refused(direct, merchant, affiliate, post_click, path):
    # Python refuses to convert integers of more than 4,300 digits (ValueError, not a JSONDecodeError).
    response = post_click('{"k": "' + merchant.public_key + '", "x": ' + "9" * 5000 + "}", path=path)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert Click.objects.count() == 0 and SeenDomain.objects.count() == 0


def _buffered_copy(r, **changes) -> None:
    """Appends a copy of the newest buffered click with `changes` made to it: what a process that let bad input
    through would have written."""
    [(_, fields)] = r.xrevrange(buffer.STREAM, count=1)
    entry = json.loads(fields[b"e"])
    entry.update(changes)
    r.xadd(buffer.STREAM, {**fields, b"e": json.dumps(entry)})


@pytest.mark.parametrize("bad", [{"landing_url": NUL}, {"referrer": LONE_SURROGATE}, {"user_agent": "x\x00"}])
def test_one_unstorable_buffered_click_does_not_keep_the_others_from_being_stored(
    buffered, client, django_capture_on_commit_callbacks, merchant, affiliate, post_click, bad
):
    rids = [post_click(click_body(merchant), ip=f"198.51.100.{i}").json()["referral"] for i in range(40)]
    _buffered_copy(buffered, rid="crafted-referral-id", token="c" * 24, **bad)
    rids += [post_click(click_body(merchant), ip=f"198.51.101.{i}").json()["referral"] for i in range(40)]

    with django_capture_on_commit_callbacks(execute=True):
        assert flush_click_buffer_task() == 80

    assert Click.objects.count() == 80 and buffer.backlog() == 0
    assert not Referral.objects.filter(rid="crafted-referral-id").exists()
    parked = UnstoredClick.objects.get()
    assert parked.merchant == merchant and "crafted-referral-id" in parked.entry and parked.error
    # A payment naming one of the real clicks earns its commission.
    event = make_event(
        "checkout.session.completed",
        checkout_session(client_reference_id=rids[-1], amount_total=10000),
        account=merchant.stripe_account_id,
    )
    assert post_event(client, event).status_code == 200
    assert StripeEvent.objects.get(stripe_id=event["id"]).status == StripeEvent.Status.PROCESSED
    assert Commission.objects.get().referral.rid == rids[-1]


def test_an_unstorable_click_is_shown_on_the_settings_page(buffered, merchant_client, merchant, affiliate, post_click):
    post_click(click_body(merchant))
    _buffered_copy(buffered, rid="crafted-referral-id", token="c" * 24, landing_url=NUL)
    flush_click_buffer_task()

    body = merchant_client.get("/settings/").content.decode()

    assert "1 click could not be stored" in body
