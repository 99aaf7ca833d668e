"""Send test event: a signed `webhook.test` about the endpoint itself, sent now through the delivery path, logged."""

import pytest
from django.urls import reverse
from standardwebhooks import Webhook

from tests.api.conftest import assert_error
from webhooks.models import TEST_EVENT_TYPE, WebhookAttempt, WebhookDelivery

from .conftest import endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)


def _send_test(merchant_client, endpoint):
    return merchant_client.post(reverse("webhooks:send_test_event", args=[endpoint.public_id]))


def test_send_test_event_posts_a_signed_webhook_test_the_receiver_verifies(merchant_client, merchant, receiver, api):
    endpoint = endpoint_for(merchant, receiver, "payout.paid")
    page = merchant_client.get(reverse("webhooks:endpoint", args=[endpoint.public_id])).content.decode()
    assert "Send test event</button>" in page

    response = _send_test(merchant_client, endpoint)
    delivery = WebhookDelivery.objects.select_related("event").get(endpoint=endpoint)
    assert response.status_code == 302
    assert response["Location"] == reverse("webhooks:delivery", args=[delivery.public_id])

    [request] = receiver.requests
    event = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert event["type"] == TEST_EVENT_TYPE == "webhook.test"
    assert event["id"] == request.headers["webhook-id"] == delivery.event.event_id
    # Its object is the endpoint, exactly as the API shows it.
    assert event["data"]["object"] == api.get(f"/api/v1/webhook_endpoints/{endpoint.public_id}").json()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert (attempt.response_status, attempt.response_body, attempt.url) == (200, "ok", endpoint.url)

    page = merchant_client.get(response["Location"]).content.decode()
    assert f"A webhook.test event is on its way to {endpoint.url}." in page
    assert "webhook.test" in page and "HTTP 200" in page

    _send_test(merchant_client, endpoint)  # each press sends one
    assert len(receiver.requests) == 2
    assert receiver.requests[1].verified(endpoint.secret)["id"] != event["id"]


def test_a_failed_test_event_is_logged_and_not_retried(merchant_client, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, "payout.paid")
    receiver.answer((500, "no handler for webhook.test"))
    _send_test(merchant_client, endpoint)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    attempt = delivery.attempt_log.get()
    assert (attempt.response_status, attempt.response_body, attempt.next_attempt_at) == (
        500,
        "no handler for webhook.test",
        None,
    )
    page = merchant_client.get(reverse("webhooks:endpoint", args=[endpoint.public_id])).content.decode()
    assert "webhook.test" in page and "Failed" in page


def test_a_disabled_endpoint_gets_a_test_event_to_check_it_before_enabling_it(merchant_client, merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, "payout.paid")
    merchant_client.post(reverse("webhooks:toggle_endpoint", args=[endpoint.public_id]))
    _send_test(merchant_client, endpoint)
    [request] = receiver.requests
    assert request.verified(endpoint.secret)["data"]["object"]["status"] == "disabled"
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled"
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == "succeeded"


def test_webhook_test_is_not_a_type_to_subscribe_to(api):
    response = api.post("/api/v1/webhook_endpoints", {"url": "https://a.example.com/h", "events": ["webhook.test"]})
    assert_error(response, 400, field="events.0")
