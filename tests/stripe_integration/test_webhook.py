"""POST /stripe/webhook/: signature, storage, duplicates, unknown accounts; processing enqueued after commit."""

import hashlib
import hmac
import json

import pytest
from django.test import TestCase

from stripe_integration.models import StripeEvent
from tests.stripe_events import checkout_session, customer, encode, make_event, now, post_event, sign

pytestmark = pytest.mark.django_db


def event_for(merchant, **patch):
    return make_event("customer.created", customer(**patch), account=merchant.stripe_account_id)


def test_signed_event_is_stored_and_acknowledged(client, merchant, django_capture_on_commit_callbacks):
    event = event_for(merchant)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_event(client, event, process=False)
    assert response.status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.merchant == merchant
    assert stored.type == "customer.created"
    assert stored.account == merchant.stripe_account_id
    assert stored.payload == event
    assert stored.stripe_created_at is not None
    assert len(callbacks) == 1  # processing enqueued once the row is committed
    callbacks[0]()  # the commit: tasks are eager in this test run
    stored.refresh_from_db()
    assert stored.status == StripeEvent.Status.PROCESSED  # eager tasks in this test run


def test_duplicate_webhook_creates_one_event(client, merchant, django_capture_on_commit_callbacks):
    event = event_for(merchant)
    assert post_event(client, event).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks:
        assert post_event(client, event, process=False).status_code == 200
    assert StripeEvent.objects.filter(stripe_id=event["id"]).count() == 1
    assert callbacks == []  # nothing enqueued for the replay


@pytest.mark.parametrize(
    "signature",
    [
        "",  # missing
        "t=123,v1=deadbeef",  # garbage
        "not a header",
    ],
)
def test_bad_or_missing_signature_is_refused_and_nothing_stored(client, merchant, signature):
    response = post_event(client, event_for(merchant), signature=signature)
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_signature_with_another_secret_is_refused(client, merchant):
    response = post_event(client, event_for(merchant), secret="whsec_someone_else")
    assert response.status_code == 400
    assert b"signature" in response.content.lower()
    assert StripeEvent.objects.count() == 0


def test_signature_older_than_tolerance_is_refused(client, merchant, settings):
    assert settings.STRIPE_WEBHOOK_TOLERANCE == 300
    response = post_event(client, event_for(merchant), timestamp=now() - 301)
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0
    assert post_event(client, event_for(merchant), timestamp=now() - 200).status_code == 200


def test_tampered_body_is_refused(client, merchant):
    event = event_for(merchant)
    header = sign(encode(event))
    event["data"]["object"]["metadata"] = {"_afficoneRef": "someone-else"}
    response = post_event(client, event, signature=header)
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"object": "event"}', b'{"id": 1, "type": []}'])
def test_signed_malformed_body_is_refused(client, merchant, body):
    response = post_event(client, body)
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_body_that_is_not_utf8_is_refused(client, merchant, settings):
    body = b'{"id": "evt_\xff"}'
    timestamp = now()
    mac = hmac.new(settings.STRIPE_WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    response = post_event(client, body, signature=f"t={timestamp},v1={mac}")
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_get_is_not_allowed(client):
    assert client.get("/stripe/webhook/").status_code == 405


def test_unknown_account_is_stored_and_ignored(client, merchant, django_capture_on_commit_callbacks):
    event = make_event(
        "checkout.session.completed", checkout_session(client_reference_id="alice"), account="acct_nobody"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert post_event(client, event, process=False).status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.merchant is None
    assert stored.status == StripeEvent.Status.IGNORED
    assert callbacks == []


def test_event_without_account_is_stored_and_ignored(client, merchant):
    event = make_event("customer.created", customer(), account=None)
    assert post_event(client, event).status_code == 200
    assert StripeEvent.objects.get(stripe_id=event["id"]).status == StripeEvent.Status.IGNORED


def test_event_type_without_handler_is_ignored(client, merchant):
    event = make_event("plan.created", {"id": "plan_1", "object": "plan"}, account=merchant.stripe_account_id)
    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.merchant == merchant
    assert stored.status == StripeEvent.Status.IGNORED


def test_event_is_stored_as_sent(client, merchant):
    event = event_for(merchant, metadata={"note": "ünïcødé"})
    post_event(client, event)
    assert StripeEvent.objects.get(stripe_id=event["id"]).payload == json.loads(encode(event))


def test_live_server_post(live_server, merchant):
    event = event_for(merchant)
    status, _ = post_event(live_server.url, event)
    assert status == 200
    assert StripeEvent.objects.filter(stripe_id=event["id"], merchant=merchant).exists()
    status, _ = post_event(live_server.url, event, signature="")
    assert status == 400


def test_webhook_is_answered_ahead_of_the_middleware(client, merchant, settings):
    """Stripe does not follow redirects and sends no session: with the app redirecting to https, a signed event still
    lands (the proxy in front terminates TLS), sets no cookie, and a request for another host is still refused."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 301  # the rest of the app is redirected to https

    event = event_for(merchant)
    response = post_event(client, event)

    assert response.status_code == 200 and "Set-Cookie" not in response
    assert StripeEvent.objects.get(stripe_id=event["id"]).status == StripeEvent.Status.PROCESSED
    body = encode(event_for(merchant))
    refused = client.post(
        "/stripe/webhook/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body),
        HTTP_HOST="evil.example",
    )
    assert refused.status_code == 400
    assert StripeEvent.objects.count() == 1


def test_every_fast_endpoint_is_also_in_the_urlconf():
    """FAST_ENDPOINTS answers these paths ahead of the middleware; the URLconf names the same views, so reverse()
    and the API schema know them."""
    from django.conf import settings
    from django.urls import resolve
    from django.utils.module_loading import import_string

    for path, view in settings.FAST_ENDPOINTS.items():
        assert resolve(path).func is import_string(view), path


def test_webhook_still_stores_the_event_when_redis_is_down(client, merchant, affiliate, settings):
    """Stripe gets its 200 (the event is stored) even if no drainer can be asked for; the periodic sweep then gets
    the event processed, and the commission written, once a minute has passed."""
    from datetime import timedelta

    from django.utils import timezone

    from affiliates.models import Commission
    from stripe_integration.drainers import requeue_stale_events
    from tests.factories import ReferralFactory

    referral = ReferralFactory(affiliate=affiliate)
    event = make_event(
        "checkout.session.completed",
        checkout_session(client_reference_id=referral.rid),
        account=merchant.stripe_account_id,
    )
    reachable = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status == StripeEvent.Status.PENDING
    assert Commission.objects.count() == 0

    settings.REDIS_URL = reachable
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert requeue_stale_events(now=timezone.now() + timedelta(seconds=61)) == 1
    stored.refresh_from_db()
    assert stored.status == StripeEvent.Status.PROCESSED
    assert Commission.objects.get().referral == referral


@pytest.mark.parametrize("signature", ["t=1700000000,v1=caf\u00e9", "t=\u00e9\u00e9,v1=00", "\u00ff"])
def test_signature_header_that_is_not_ascii_is_refused_and_nothing_stored(client, merchant, signature):
    """A header Stripe never sends (it signs in hex) gets a 400 like any bad signature, not a server error."""
    response = post_event(client, event_for(merchant), signature=signature)
    assert response.status_code == 400
    assert b"signature" in response.content.lower()
    assert StripeEvent.objects.count() == 0


def test_live_server_refuses_a_signature_header_that_is_not_ascii(live_server, merchant):
    status, body = post_event(live_server.url, event_for(merchant), signature="t=1700000000,v1=caf\u00e9")
    assert status == 400 and b"signature" in body.lower()
    assert StripeEvent.objects.count() == 0


def nested_event_body(merchant, levels: int) -> bytes:
    """A customer.created event whose customer's metadata holds lists nested `levels` deep (the event's own
    envelope adds three levels: the event, data and the customer)."""
    event = event_for(merchant)
    text = encode(event).decode()
    return text.replace('"metadata":{}', '"metadata":{"deep":' + "[" * levels + "]" * levels + "}", 1).encode()


@pytest.mark.parametrize("levels", [5000, 2000])
def test_signed_json_nested_thousands_of_levels_deep_is_refused_and_nothing_stored(client, merchant, levels):
    """Nesting too deep for Python's JSON decoder is bad input (400, nothing stored), not a crash of the view, and
    the events after it are processed as usual."""
    response = post_event(client, nested_event_body(merchant, levels))
    assert response.status_code == 400
    assert b"nested too deeply" in response.content
    assert StripeEvent.objects.count() == 0

    after = event_for(merchant)
    assert post_event(client, after).status_code == 200
    assert StripeEvent.objects.get(stripe_id=after["id"]).status == StripeEvent.Status.PROCESSED


def test_unsigned_json_nested_thousands_of_levels_deep_is_refused_and_nothing_stored(client, merchant):
    response = post_event(client, nested_event_body(merchant, 5000), signature="t=1700000000,v1=00")
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_signed_json_nested_a_hundred_levels_deep_is_stored_and_processed(client, merchant):
    body = nested_event_body(merchant, 100)
    assert post_event(client, body).status_code == 200
    stored = StripeEvent.objects.get(merchant=merchant)
    assert stored.status == StripeEvent.Status.PROCESSED
    assert stored.payload == json.loads(body)


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("metadata", "x\u0000y"),
        ("metadata", "x\ud800y"),  # an unpaired high surrogate
        ("metadata", "x\udc00y"),  # an unpaired low surrogate
        ("id", "evt_\u0000"),
        ("id", "evt_\ud83d"),
        ("type", "customer.created\u0000"),
        ("account", "acct_\udfff"),
    ],
)
def test_signed_text_postgres_cannot_store_is_refused_and_nothing_stored(client, merchant, where, text):
    """JSON may escape a NUL character or half of a surrogate pair; Postgres stores neither (in text or jsonb): a
    clear 400 rather than a server error, and nothing stored."""
    event = event_for(merchant)
    if where == "metadata":
        event["data"]["object"]["metadata"] = {"note": text}
    else:
        event[where] = text
    response = post_event(client, json.dumps(event).encode())  # ASCII, with \\u escapes
    assert response.status_code == 400
    assert b"cannot be stored" in response.content
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize("text", ["\U0001f600 \u00e9", "a \\u0000 typed out", "\\\\ud800"])
def test_signed_text_with_escapes_postgres_stores_is_stored_as_sent(client, merchant, text):
    """A character outside the BMP (a surrogate pair when escaped) and backslashes typed as text are stored."""
    event = event_for(merchant, metadata={"note": text})
    assert post_event(client, json.dumps(event).encode()).status_code == 200
    assert StripeEvent.objects.get(stripe_id=event["id"]).payload["data"]["object"]["metadata"] == {"note": text}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_signed_json_with_nan_or_infinity_is_refused_and_nothing_stored(client, merchant, constant):
    """Python's decoder reads NaN and Infinity, which are not JSON and which Postgres refuses: 400, not a 500."""
    body = encode(event_for(merchant)).replace(b'"balance":0', f'"balance":{constant}'.encode(), 1)
    assert constant.encode() in body
    response = post_event(client, body)
    assert response.status_code == 400
    assert b"NaN and Infinity are not JSON numbers" in response.content
    assert StripeEvent.objects.count() == 0


def test_signed_text_naming_nan_and_infinity_is_stored(client, merchant):
    event = event_for(merchant, metadata={"note": "NaN or Infinity"})
    assert post_event(client, event).status_code == 200
    assert StripeEvent.objects.get(stripe_id=event["id"]).status == StripeEvent.Status.PROCESSED
