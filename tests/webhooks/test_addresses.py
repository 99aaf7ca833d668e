"""In production only public https addresses: refused when saved, and again after DNS resolution at each send."""

import ipaddress
import socket

import pytest
from django.urls import reverse

from affiliates.services import create_affiliate
from tests.api.conftest import assert_error
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from webhooks.services import create_endpoint

REFUSED = [
    ("http://hooks.example.com/afficone", "Use an https:// address."),
    ("ftp://hooks.example.com/afficone", "Enter a valid URL"),
    ("https://127.0.0.1/hooks", "not on the public internet"),
    ("https://10.1.2.3/hooks", "not on the public internet"),
    ("https://192.168.0.10:8443/hooks", "not on the public internet"),
    ("https://169.254.169.254/latest/meta-data", "not on the public internet"),
    ("https://100.64.0.1/hooks", "not on the public internet"),
    ("https://0.0.0.0/hooks", "not on the public internet"),
    ("https://localhost/hooks", "not on the public internet"),
    ("https://api.localhost/hooks", "not on the public internet"),
    ("https://billing.internal/hooks", "not on the public internet"),
    ("https://[::1]/hooks", "Enter a valid URL"),
    ("https://user:pass@hooks.example.com/", "Enter a valid URL"),
    ("https://hooks.example.com/path with spaces", "Enter a valid URL"),
    ("https://hooks.example.com:99999/", "Enter a valid URL"),
]


@pytest.fixture
def production(settings):
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False
    return settings


@pytest.mark.django_db
@pytest.mark.parametrize("url,message", REFUSED, ids=[u for u, _ in REFUSED])
def test_the_api_refuses_what_is_not_a_public_https_address(api, merchant, production, url, message):
    error = assert_error(
        api.post("/api/v1/webhook_endpoints", {"url": url, "events": ["payout.paid"]}), 400, field="url"
    )
    assert message in error["message"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_api_takes_a_public_https_address(api, production):
    response = api.post("/api/v1/webhook_endpoints", {"url": "https://hooks.example.com/afficone?x=1", "events": []})
    assert_error(response, 400, field="events")
    response = api.post(
        "/api/v1/webhook_endpoints", {"url": "https://hooks.example.com:8443/afficone?x=1", "events": ["payout.paid"]}
    )
    assert response.status_code == 201, response.content
    assert response.json()["url"] == "https://hooks.example.com:8443/afficone?x=1"


@pytest.mark.django_db
def test_the_dashboard_refuses_plain_http_in_production_and_says_why(merchant_client, production):
    response = merchant_client.post(
        reverse("webhooks:endpoints"), {"url": "http://hooks.example.com/afficone", "events": ["payout.paid"]}
    )
    assert response.status_code == 400
    assert "Use an https:// address." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_changing_an_endpoint_to_a_private_address_is_refused(api, merchant, production):
    endpoint = create_endpoint(merchant, url="https://hooks.example.com/a", events=["payout.paid"])
    response = api.patch(f"/api/v1/webhook_endpoints/{endpoint.public_id}", {"url": "https://10.0.0.5/a"})
    assert_error(response, 400, field="url")
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/a"


@pytest.mark.django_db(transaction=True)
def test_a_name_that_resolves_to_a_private_address_is_refused_at_send_time(merchant, receiver, production):
    """DNS rebinding: a name accepted when saved (no DNS then) that points inside at send time gets nothing."""
    name = socket.gethostname()  # this machine's name: /etc/hosts points it at a local address
    resolved = socket.gethostbyname(name)
    assert not ipaddress.ip_address(resolved).is_global, f"{name} resolves to {resolved}, a public address"
    endpoint = create_endpoint(
        merchant, url=f"https://{name}:{receiver.port}/hooks", events=[EventType.AFFILIATE_CREATED]
    )

    create_affiliate(merchant, email="maya@example.com", code="maya")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    attempt = delivery.attempt_log.get()
    assert attempt.response_status is None
    assert attempt.error == f"Not sent: {name} resolves to {resolved}, which is not on the public internet."
    assert receiver.requests == []
    assert delivery.status == "pending"  # retried: the name may point outside again
