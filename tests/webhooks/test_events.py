"""Each event type reaches the merchant's endpoint, signed, when the domain action happens.

Real stack: the API, the dashboard and the click endpoint commit their work; the domain's after-commit signal
writes the event and its delivery; the delivery task (in-process here, a real worker in test_worker.py) POSTs it to
a local HTTP receiver, which checks the signature with the `standardwebhooks` package.
"""

import json
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Referral
from affiliates.tasks import approve_due_commissions_task
from tests.factories import CommissionFactory, ReferralFactory
from tests.tracking.conftest import BROWSER_UA, click_body
from tracking.storage import store_clicks
from webhooks.events import record_events
from webhooks.models import EventType, WebhookDelivery, WebhookEvent

from .conftest import endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)


def only(receiver, event_type: str, secret: str) -> dict:
    """The one request of `event_type` the receiver got, verified; its event."""
    [request] = receiver.of_type(event_type)
    event = request.verified(secret)
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == event["id"]
    assert request.headers["webhook-signature"].startswith("v1,")
    return event


def assert_envelope(event: dict, event_type: str) -> dict:
    assert set(event) == {"id", "type", "created", "data"}
    assert event["id"].startswith("evt_") and event["type"] == event_type
    datetime.fromisoformat(event["created"].replace("Z", "+00:00"))
    assert set(event["data"]) == {"object"}
    return event["data"]["object"]


def test_affiliate_created_through_the_api_is_delivered_as_the_api_shows_it(api, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    response = api.post("/api/v1/affiliates", {"email": "maya@example.com", "name": "Maya", "code": "maya"})
    assert response.status_code == 201, response.content

    event = only(receiver, "affiliate.created", endpoint.secret)
    obj = assert_envelope(event, "affiliate.created")
    assert obj == response.json() == api.get(f"/api/v1/affiliates/{obj['id']}").json()
    assert (obj["code"], obj["status"]) == ("maya", "approved")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("succeeded", 1, None)
    attempt = delivery.attempt_log.get()
    assert (attempt.response_status, attempt.response_body, attempt.error) == (200, "ok", "")


def test_affiliate_invited_from_the_dashboard_is_delivered(merchant_client, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    response = merchant_client.post(
        reverse("affiliates:affiliate_invite"), {"email": "carol@example.net", "name": "Carol", "code": "carol"}
    )
    assert response.status_code == 302
    obj = assert_envelope(only(receiver, "affiliate.created", endpoint.secret), "affiliate.created")
    affiliate = Affiliate.objects.get(merchant=merchant, code="carol")
    assert (obj["id"], obj["email"], obj["name"]) == (str(affiliate.public_id), "carol@example.net", "Carol")


def test_affiliate_updated_carries_the_new_state(api, merchant, affiliate, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_UPDATED)
    response = api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"name": "Alice B.", "status": "suspended"})
    assert response.status_code == 200
    # The name and the status are two services in one transaction: one event, the final state.
    obj = assert_envelope(only(receiver, "affiliate.updated", endpoint.secret), "affiliate.updated")
    assert (obj["name"], obj["status"]) == ("Alice B.", "suspended")
    assert obj == response.json()


def test_referral_created_by_a_click_is_delivered(client, merchant, affiliate, receiver, settings):
    settings.TRACKING_BUFFER = False  # written in the request; buffered clicks go through the same store_clicks
    endpoint = endpoint_for(merchant, receiver, EventType.REFERRAL_CREATED)
    response = client.post(
        "/api/track/click",
        json.dumps(click_body(merchant)),
        content_type="text/plain",
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT=BROWSER_UA,
    )
    assert response.status_code == 200, response.content
    rid = response.json()["referral"]
    obj = assert_envelope(only(receiver, "referral.created", endpoint.secret), "referral.created")
    assert (obj["id"], obj["affiliate"], obj["customer"]) == (rid, str(affiliate.public_id), None)
    assert Referral.objects.get(rid=rid).merchant == merchant


def test_lead_created_by_the_api_is_delivered_as_the_api_shows_it(api, merchant, affiliate, receiver, fake_stripe):
    endpoint = endpoint_for(merchant, receiver, EventType.LEAD_CREATED)
    referral = ReferralFactory(affiliate=affiliate)
    response = api.post(
        "/api/v1/leads", {"referral": referral.rid, "email": " New@Example.org ", "external_id": "user-42"}
    )
    assert response.status_code == 201, response.content
    obj = assert_envelope(only(receiver, "lead.created", endpoint.secret), "lead.created")
    assert obj == response.json() == api.get(f"/api/v1/leads/{obj['id']}").json()
    assert (obj["referral"], obj["affiliate"], obj["email"], obj["customer"], obj["external_id"]) == (
        referral.rid,
        str(affiliate.public_id),
        "new@example.org",
        None,
        "user-42",
    )
    # The same signup reported again is the same lead: no second event.
    assert api.post("/api/v1/leads", {"referral": referral.rid, "email": "new@example.org"}).status_code == 200
    assert len(receiver.of_type("lead.created")) == 1


def test_commission_approved_through_the_api_is_commission_updated(api, merchant, affiliate, receiver):
    commission = CommissionFactory(referral=ReferralFactory(affiliate=affiliate), amount=1500)
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_UPDATED)
    response = api.post(f"/api/v1/commissions/{commission.public_id}/approve")
    assert response.status_code == 200
    obj = assert_envelope(only(receiver, "commission.updated", endpoint.secret), "commission.updated")
    assert (obj["id"], obj["status"], obj["net_amount"], obj["currency"]) == (
        str(commission.public_id),
        "approved",
        1500,
        "usd",
    )


def test_payout_created_and_paid_with_their_commissions(api, merchant, affiliate, receiver):
    referral = ReferralFactory(affiliate=affiliate)
    owed = [CommissionFactory(referral=referral, amount=a, status="approved") for a in (3000, 2500)]
    endpoint = endpoint_for(merchant, receiver, EventType.PAYOUT_CREATED, EventType.PAYOUT_PAID)

    assert api.post("/api/v1/payouts").status_code == 201
    created = assert_envelope(only(receiver, "payout.created", endpoint.secret), "payout.created")
    assert (created["amount"], created["status"]) == (5500, "pending")
    assert set(created["commissions"]) == {str(c.public_id) for c in owed}

    response = api.post(f"/api/v1/payouts/{created['id']}/mark-paid", {"reference": "PAYPAL-123"})
    assert response.status_code == 200
    paid = assert_envelope(only(receiver, "payout.paid", endpoint.secret), "payout.paid")
    assert paid == response.json()
    assert (paid["id"], paid["status"], paid["reference"]) == (created["id"], "paid", "PAYPAL-123")
    assert paid["paid_at"] is not None


def test_marking_a_payout_paid_updates_each_of_its_commissions(api, merchant, affiliate, receiver):
    referral = ReferralFactory(affiliate=affiliate)
    owed = [CommissionFactory(referral=referral, amount=a, status="approved") for a in (3000, 2500)]
    api.post("/api/v1/payouts")
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_UPDATED)
    payout = Commission.objects.get(pk=owed[0].pk).payout
    api.post(f"/api/v1/payouts/{payout.public_id}/mark-paid")
    events = [r.verified(endpoint.secret) for r in receiver.of_type("commission.updated")]
    assert {e["data"]["object"]["id"]: e["data"]["object"]["status"] for e in events} == {
        str(c.public_id): "paid" for c in owed
    }


def test_endpoints_get_only_their_types_their_merchant_and_nothing_when_disabled(
    api, merchant, other_merchant, receiver
):
    wanted = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED, path="/wanted")
    endpoint_for(merchant, receiver, EventType.PAYOUT_PAID, path="/other-type")
    disabled = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED, path="/disabled")
    disabled.status = "disabled"
    disabled.save()
    endpoint_for(other_merchant, receiver, EventType.AFFILIATE_CREATED, path="/other-merchant")

    api.post("/api/v1/affiliates", {"email": "maya@example.com"})
    assert [r.path for r in receiver.requests] == ["/wanted"]
    assert WebhookDelivery.objects.get().endpoint == wanted
    assert not WebhookEvent.objects.filter(merchant=other_merchant).exists()


def test_a_merchant_without_endpoints_gets_no_events_written(api, merchant):
    api.post("/api/v1/affiliates", {"email": "maya@example.com"})
    assert Affiliate.objects.filter(merchant=merchant).exists()
    assert not WebhookEvent.objects.exists()


def test_a_merchant_without_endpoints_pays_no_query_for_events_and_a_new_endpoint_is_seen_at_once(
    api, merchant, affiliate, receiver
):
    commission = CommissionFactory(merchant=merchant, affiliate=affiliate)
    record_events(EventType.COMMISSION_CREATED, {merchant.pk: [commission.pk]})  # the answer is cached
    with CaptureQueriesContext(connection) as queries:
        assert record_events(EventType.COMMISSION_CREATED, {merchant.pk: [commission.pk]}) == []
    assert len(queries) == 0, [q["sql"] for q in queries]

    # Subscribing (through the API) is seen by the very next event, and disabling by the one after.
    response = api.post("/api/v1/webhook_endpoints", {"url": receiver.url + "/hooks", "events": ["affiliate.created"]})
    assert response.status_code == 201, response.content
    api.post("/api/v1/affiliates", {"email": "maya@example.com"})
    assert [r.event["type"] for r in receiver.requests] == ["affiliate.created"]
    api.patch(f"/api/v1/webhook_endpoints/{response.json()['id']}", {"status": "disabled"})
    api.post("/api/v1/affiliates", {"email": "noor@example.com"})
    assert len(receiver.requests) == 1
    assert WebhookEvent.objects.filter(type="affiliate.created").count() == 1


def test_an_update_that_changes_nothing_visible_sends_no_event(api, merchant, affiliate, receiver):
    endpoint_for(merchant, receiver, EventType.AFFILIATE_UPDATED)
    api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"name": "Alice Again"})
    api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"name": "Alice Again"})
    assert [r.event["data"]["object"]["name"] for r in receiver.requests] == ["Alice Again"]
    assert WebhookEvent.objects.filter(type="affiliate.updated").count() == 1


def test_a_click_batch_written_twice_sends_its_referral_once(merchant, affiliate, receiver):
    """The click buffer may write a batch again (a worker killed before acknowledging it): no second event."""
    endpoint = endpoint_for(merchant, receiver, EventType.REFERRAL_CREATED)
    entry = {
        "merchant_id": merchant.pk,
        "affiliate_id": affiliate.pk,
        "rid": "replayed-referral",
        "is_new_referral": True,
        "landing_url": "https://shop.test/?ref=alice",
        "referrer": "",
        "user_agent": BROWSER_UA,
        "ip_hash": "h",
        "created_at": timezone.now().timestamp(),
        "token": "click-token-1",
    }
    store_clicks([entry])
    store_clicks([entry])
    assert [r.verified(endpoint.secret)["data"]["object"]["id"] for r in receiver.requests] == ["replayed-referral"]


def test_a_conversion_and_its_refund_are_commission_created_then_updated(api, merchant, affiliate, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_CREATED, EventType.COMMISSION_UPDATED)
    body = {"id": "order-1", "referral": affiliate.code, "amount": 10000, "currency": "usd"}
    assert api.post("/api/v1/conversions", body).status_code == 201
    assert api.post("/api/v1/conversions/order-1/refund", {"amount": 2500}).status_code == 200
    created, updated = (r.verified(endpoint.secret) for r in receiver.requests)
    assert created["type"] == "commission.created" and updated["type"] == "commission.updated"
    assert created["data"]["object"]["id"] == updated["data"]["object"]["id"]
    assert (created["data"]["object"]["amount"], created["data"]["object"]["reversed_amount"]) == (2000, 0)
    assert (updated["data"]["object"]["net_amount"], updated["data"]["object"]["reversed_amount"]) == (1500, 500)


def test_commissions_approved_after_their_hold_are_commission_updated(merchant, affiliate, receiver):
    referral = ReferralFactory(affiliate=affiliate)
    due = CommissionFactory(referral=referral, hold_until=timezone.now() - timedelta(minutes=1))
    CommissionFactory(referral=referral)  # still held
    endpoint = endpoint_for(merchant, receiver, EventType.COMMISSION_UPDATED)
    assert approve_due_commissions_task() == 1
    [request] = receiver.requests
    obj = request.verified(endpoint.secret)["data"]["object"]
    assert (obj["id"], obj["status"]) == (str(due.public_id), "approved") and obj["approved_at"]
