"""Settings → Webhooks: add, see the secret once, enable/disable, rotate, delete, read deliveries, resend."""

import re

import pytest
from django.urls import reverse

from affiliates.services import create_affiliate
from tenants.models import Membership
from tests.factories import MembershipFactory
from webhooks import urls as webhooks_urls
from webhooks.delivery import RETRY_WINDOW
from webhooks.events import write_event
from webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint

from .conftest import endpoint_for


def secret_on(page: str) -> str:
    return re.search(r'value="(whsec_[A-Za-z0-9+/=]+)"', page).group(1)


@pytest.mark.django_db
def test_settings_nav_leads_to_webhooks_and_an_empty_page_explains(merchant_client):
    page = merchant_client.get(reverse("tenants:api_keys")).content.decode()
    assert reverse("webhooks:endpoints") in page and ">Webhooks</a>" in page
    response = merchant_client.get(reverse("webhooks:endpoints"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "No webhook endpoints yet" in page
    for event_type in EventType.values:
        assert f'value="{event_type}"' in page


@pytest.mark.django_db
def test_adding_an_endpoint_shows_its_secret_once(merchant_client, merchant):
    response = merchant_client.post(
        reverse("webhooks:endpoints"),
        {"url": "https://hooks.example.com/afficone", "events": ["commission.created", "payout.paid"]},
    )
    endpoint = WebhookEndpoint.objects.get(merchant=merchant)
    assert response.status_code == 302 and response["Location"] == reverse(
        "webhooks:endpoint_secret", args=[endpoint.public_id]
    )
    assert (endpoint.url, endpoint.events, endpoint.status) == (
        "https://hooks.example.com/afficone",
        ["commission.created", "payout.paid"],
        "enabled",
    )
    page = merchant_client.get(response["Location"]).content.decode()
    assert secret_on(page) == endpoint.secret
    again = merchant_client.get(response["Location"])
    assert again.status_code == 302 and again["Location"] == reverse("webhooks:endpoint", args=[endpoint.public_id])
    detail = merchant_client.get(again["Location"]).content.decode()
    assert endpoint.secret not in detail and "shown once" in detail
    listing = merchant_client.get(reverse("webhooks:endpoints")).content.decode()
    assert "https://hooks.example.com/afficone" in listing and endpoint.secret not in listing


@pytest.mark.django_db
def test_an_endpoint_without_event_types_or_a_url_is_refused(merchant_client, merchant):
    response = merchant_client.post(reverse("webhooks:endpoints"), {"url": "not a url", "events": []})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid URL" in page and "Choose at least one event type." in page
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_editing_disabling_enabling_and_deleting(merchant_client, merchant):
    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url="https://a.example.com/h", events=["payout.paid"])
    url = reverse("webhooks:endpoint", args=[endpoint.public_id])
    response = merchant_client.post(
        url, {"url": "https://b.example.com/h", "events": ["payout.created", "payout.paid"]}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events) == ("https://b.example.com/h", ["payout.created", "payout.paid"])

    merchant_client.post(reverse("webhooks:toggle_endpoint", args=[endpoint.public_id]))
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled"
    assert "Enable</button>" in merchant_client.get(url).content.decode()
    merchant_client.post(reverse("webhooks:toggle_endpoint", args=[endpoint.public_id]))
    endpoint.refresh_from_db()
    assert endpoint.status == "enabled"

    response = merchant_client.post(reverse("webhooks:delete_endpoint", args=[endpoint.public_id]))
    assert response.status_code == 302 and not WebhookEndpoint.objects.exists()
    assert merchant_client.get(url).status_code == 404


@pytest.mark.django_db
def test_rotating_shows_the_new_secret_once_and_keeps_the_old_for_a_day(merchant_client, merchant):
    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url="https://a.example.com/h", events=["payout.paid"])
    old = endpoint.secret
    response = merchant_client.post(reverse("webhooks:rotate_secret", args=[endpoint.public_id]))
    page = merchant_client.get(response["Location"]).content.decode()
    endpoint.refresh_from_db()
    assert secret_on(page) == endpoint.secret != old
    assert endpoint.previous_secret == old and "keeps signing alongside" in page


@pytest.mark.django_db(transaction=True)
def test_deliveries_and_each_attempts_answer_are_shown(merchant_client, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer((500, "<h1>upstream broke</h1>"))
    create_affiliate(merchant, email="maya@example.com", code="maya")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    page = merchant_client.get(reverse("webhooks:endpoint", args=[endpoint.public_id])).content.decode()
    assert "affiliate.created" in page and delivery.event.event_id in page and "Pending" in page
    page = merchant_client.get(reverse("webhooks:delivery", args=[delivery.public_id])).content.decode()
    assert "HTTP 500" in page and "&lt;h1&gt;upstream broke&lt;/h1&gt;" in page  # escaped, never rendered
    assert "maya@example.com" in page  # the payload
    assert "Resend</button>" in page


@pytest.mark.django_db(transaction=True)
def test_resend_from_the_dashboard_delivers_a_failed_delivery(merchant_client, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(500)
    create_affiliate(merchant, email="maya@example.com", code="maya")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    # Three days of failures later, it has failed for good.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="failed", next_attempt_at=None, created_at=delivery.created_at - RETRY_WINDOW
    )

    response = merchant_client.post(reverse("webhooks:resend_delivery", args=[delivery.public_id]))
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    resent = WebhookAttempt.objects.get(delivery=delivery, number=2)
    assert resent.is_manual and resent.response_status == 200
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    second.verified(endpoint.secret)

    page = merchant_client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and "resend</span>" in page and "Resend</button>" not in page
    merchant_client.post(reverse("webhooks:resend_delivery", args=[delivery.public_id]))
    assert len(receiver.requests) == 2  # a delivery succeeds at most once
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2


@pytest.mark.django_db(transaction=True)
def test_resend_refuses_while_the_endpoint_is_disabled(merchant_client, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(500)
    create_affiliate(merchant, email="maya@example.com", code="maya")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    merchant_client.post(reverse("webhooks:toggle_endpoint", args=[endpoint.public_id]))
    response = merchant_client.post(reverse("webhooks:resend_delivery", args=[delivery.public_id]), follow=True)
    assert "Enable the endpoint first" in response.content.decode()
    assert len(receiver.requests) == 1


def _failed_for_good(endpoint) -> None:
    """Three days of failures later: what was pending has failed for good."""
    WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").update(status="failed", next_attempt_at=None)


@pytest.mark.django_db(transaction=True)
def test_resend_all_failed_sends_every_failed_delivery_of_the_endpoint_again_in_order(
    merchant_client, merchant, receiver
):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    other = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED, path="/other")
    receiver.answer(500, 500, 500, 500)  # maya and sam, to both endpoints
    for code in ("maya", "sam", "kim"):
        create_affiliate(merchant, email=f"{code}@example.com", code=code)
    assert len(receiver.requests) == 6
    _failed_for_good(endpoint)
    _failed_for_good(other)
    failed = list(WebhookDelivery.objects.filter(endpoint=endpoint, status="failed").order_by("pk"))
    assert [d.event.body for d in failed] == [r.body.decode() for r in receiver.requests[:4:2]]

    url = reverse("webhooks:endpoint", args=[endpoint.public_id])
    assert "Resend all failed (2)</button>" in merchant_client.get(url).content.decode()
    response = merchant_client.post(
        reverse("webhooks:resend_deliveries", args=[endpoint.public_id]), {"scope": "failed"}
    )
    assert response.status_code == 302 and response["Location"] == url

    resent = receiver.requests[6:]
    assert [r.path for r in resent] == ["/hooks", "/hooks"]
    assert [r.headers["webhook-id"] for r in resent] == [d.event.event_id for d in failed]  # oldest first
    for request in resent:
        request.verified(endpoint.secret)
    for delivery in failed:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("succeeded", 2)
        assert WebhookAttempt.objects.get(delivery=delivery, number=2).is_manual
    assert set(WebhookDelivery.objects.filter(endpoint=other).values_list("status", flat=True)) == {
        "failed",
        "succeeded",
    }
    page = merchant_client.get(url).content.decode()
    assert "2 deliveries are being sent again." in page and "Resend all failed" not in page

    response = merchant_client.post(
        reverse("webhooks:resend_deliveries", args=[endpoint.public_id]), {"scope": "failed"}, follow=True
    )
    assert "Nothing to resend: no delivery has failed." in response.content.decode()
    assert len(receiver.requests) == 8


@pytest.mark.django_db(transaction=True)
def test_resend_selected_sends_only_the_ticked_deliveries(merchant_client, merchant, receiver, theirs):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(500, 500)
    create_affiliate(merchant, email="maya@example.com", code="maya")
    create_affiliate(merchant, email="sam@example.com", code="sam")
    _failed_for_good(endpoint)
    maya, sam = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk")
    page = merchant_client.get(reverse("webhooks:endpoint", args=[endpoint.public_id])).content.decode()
    assert f'name="deliveries" value="{sam.public_id}"' in page

    response = merchant_client.post(
        reverse("webhooks:resend_deliveries", args=[endpoint.public_id]),
        {"scope": "selected", "deliveries": [str(sam.public_id), str(theirs["delivery"]), "not-a-uuid"]},
        follow=True,
    )
    assert "1 delivery is being sent again." in response.content.decode()
    [resent] = receiver.requests[2:]
    assert resent.verified(endpoint.secret)["id"] == sam.event.event_id
    maya.refresh_from_db()
    sam.refresh_from_db()
    assert (maya.status, sam.status) == ("failed", "succeeded")
    assert WebhookDelivery.objects.get(public_id=theirs["delivery"]).status == "failed"

    response = merchant_client.post(
        reverse("webhooks:resend_deliveries", args=[endpoint.public_id]), {"scope": "selected"}, follow=True
    )
    assert "Nothing to resend: tick deliveries that have not succeeded." in response.content.decode()
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_resend_all_failed_refuses_while_the_endpoint_is_disabled(merchant_client, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(500)
    create_affiliate(merchant, email="maya@example.com", code="maya")
    _failed_for_good(endpoint)
    merchant_client.post(reverse("webhooks:toggle_endpoint", args=[endpoint.public_id]))
    response = merchant_client.post(
        reverse("webhooks:resend_deliveries", args=[endpoint.public_id]), {"scope": "failed"}, follow=True
    )
    assert "Enable the endpoint first" in response.content.decode()
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == "failed"


@pytest.fixture
def theirs(other_merchant):
    endpoint = WebhookEndpoint.objects.create(
        merchant=other_merchant, url="https://globex.example.com/h", events=["affiliate.created"]
    )
    event = write_event(other_merchant.pk, "affiliate.created", {"id": "x"}, [])
    delivery = WebhookDelivery.objects.create(merchant=other_merchant, event=event, endpoint=endpoint, status="failed")
    return {"endpoint": endpoint.public_id, "delivery": delivery.public_id}


ATTEMPTS = {
    "endpoint": [("get", None), ("post", {"url": "https://evil.example.com/", "events": ["payout.paid"]})],
    "endpoint_secret": [("get", None)],
    "toggle_endpoint": [("post", {})],
    "rotate_secret": [("post", {})],
    "delete_endpoint": [("post", {})],
    "delivery": [("get", None)],
    "resend_delivery": [("post", {})],
    "resend_deliveries": [("post", {"scope": "failed"}), ("post", {"scope": "selected"})],
    "send_test_event": [("post", {})],
}


def _snapshot():
    return (
        sorted(WebhookEndpoint.objects.values_list("pk", "url", "status", "secret", "events")),
        sorted(WebhookDelivery.objects.values_list("pk", "status", "attempts", "next_attempt_at")),
    )


@pytest.mark.django_db
def test_every_webhooks_url_with_an_id_is_covered_here():
    assert {p.name for p in webhooks_urls.urlpatterns if "<uuid:" in str(p.pattern)} == set(ATTEMPTS)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_other_merchant_gets_404_and_nothing_changes(merchant_client, theirs, name):
    kind = "delivery" if "delivery" in name else "endpoint"
    before = _snapshot()
    for method, data in ATTEMPTS[name]:
        response = getattr(merchant_client, method)(reverse(f"webhooks:{name}", args=[theirs[kind]]), data)
        assert response.status_code == 404
    assert _snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    ["endpoints", "endpoint", "delivery", "resend_delivery", "resend_deliveries", "send_test_event", "rotate_secret"],
)
def test_members_cannot_see_or_manage_webhooks(client, merchant, name):
    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url="https://a.example.com/h", events=["payout.paid"])
    member = MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER)
    client.force_login(member.user)
    # Refused before any lookup: the id does not matter.
    url = reverse(f"webhooks:{name}", args=[] if name == "endpoints" else [endpoint.public_id])
    before = _snapshot()
    posts = ("resend_delivery", "resend_deliveries", "send_test_event", "rotate_secret")
    response = client.post(url) if name in posts else client.get(url)
    assert response.status_code == 403
    assert _snapshot() == before
