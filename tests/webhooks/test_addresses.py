"""In production only public https addresses: refused when saved, and again after DNS resolution at each send."""

import ipaddress
import socket
import threading

import pytest
from django.urls import reverse

from affiliates.services import create_affiliate
from tests.api.conftest import assert_error
from webhooks.addresses import UnsafeAddress, is_public, resolve
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from webhooks.services import create_endpoint, update_endpoint

from .conftest import Receiver, endpoint_for

REFUSED = [
    ("http://hooks.example.com/afficone", "Use an https:// address."),
    ("ftp://hooks.example.com/afficone", "Enter a valid URL"),
    ("https://127.0.0.1/hooks", "not on the public internet"),
    ("https://10.1.2.3/hooks", "not on the public internet"),
    ("https://192.168.0.10:8443/hooks", "not on the public internet"),
    ("https://172.16.0.1/hooks", "not on the public internet"),
    ("https://172.31.255.254/hooks", "not on the public internet"),
    ("https://169.254.169.254/latest/meta-data", "not on the public internet"),
    ("https://100.64.0.1/hooks", "not on the public internet"),
    ("https://0.0.0.0/hooks", "not on the public internet"),
    ("https://localhost/hooks", "not on the public internet"),
    ("https://api.localhost/hooks", "not on the public internet"),
    ("https://billing.internal/hooks", "not on the public internet"),
    ("https://[::1]/hooks", "Enter a valid URL"),
    # IPv6 literals are not taken at all (a name is): no private, link-local or mapped address slips through.
    ("https://[fc00::1]/hooks", "Enter a valid URL"),
    ("https://[fd00:ec2::254]/latest/meta-data", "Enter a valid URL"),
    ("https://[fe80::1]/hooks", "Enter a valid URL"),
    ("https://[::ffff:127.0.0.1]/hooks", "Enter a valid URL"),
    ("https://[::ffff:7f00:1]/hooks", "Enter a valid URL"),
    # Other spellings of 127.0.0.1 that the resolver reads as an address.
    ("https://2130706433/hooks", "Write an IP address as four decimal numbers"),
    ("https://0x7f000001/hooks", "Write an IP address as four decimal numbers"),
    ("https://017700000001/hooks", "Write an IP address as four decimal numbers"),
    ("https://0177.0.0.1/hooks", "Enter a valid URL"),
    ("https://127.1/hooks", "Enter a valid URL"),
    ("https://0x7f.0.0.1/hooks", "Enter a valid URL"),
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


# What a name may resolve to at send time, given here as the literal getaddrinfo answers for itself.
NOT_PUBLIC = [
    "127.0.0.1",
    "10.0.0.5",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "fc00::1",
    "fd00:ec2::254",  # AWS's IPv6 metadata
    "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo around 127.0.0.1 (obfuscated)
    "64:ff9b::a00:5",  # NAT64 to 10.0.0.5
    "64:ff9b:1::a00:5",  # local-use NAT64
    "ff02::1",
    "2130706433",  # 127.0.0.1 in decimal, octal, hex and short
    "017700000001",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_an_address_off_the_public_internet_is_refused_at_send_time(production, address):
    with pytest.raises(UnsafeAddress, match="which is not on the public internet"):
        resolve(address, 443)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_a_public_address_is_sent_to(production, address):
    assert resolve(address, 443) == address
    assert is_public(address)


def test_a_name_resolving_to_loopback_is_refused_at_send_time(production):
    with pytest.raises(UnsafeAddress, match=r"^localhost resolves to (127\.0\.0\.1|::1), which is not on the public"):
        resolve("localhost", 443)


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_on_localhost_gets_nothing_once_insecure_urls_are_off(merchant, receiver, settings):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    update_endpoint(endpoint, url=f"http://localhost:{receiver.port}/hooks")  # taken while insecure URLs are on
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False
    create_affiliate(merchant, email="maya@example.com", code="maya")
    attempt = WebhookDelivery.objects.get(endpoint=endpoint).attempt_log.get()
    assert attempt.response_status is None
    assert attempt.error.startswith("Not sent: localhost resolves to ")
    assert attempt.error.endswith("which is not on the public internet.")
    assert receiver.requests == []


@pytest.fixture
def internal():
    """A service on the private side, which a redirect would like the sender to reach."""
    internal = Receiver()
    threading.Thread(target=internal.server.serve_forever, daemon=True).start()
    yield internal
    internal.server.shutdown()
    internal.server.server_close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_into_a_private_address_is_not_followed(merchant, receiver, internal, status):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer((status, "moved", {"Location": f"{internal.url}/latest/meta-data/"}))
    create_affiliate(merchant, email="maya@example.com", code="maya")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    attempt = delivery.attempt_log.get()
    assert (attempt.response_status, attempt.response_body, attempt.url) == (status, "moved", endpoint.url)
    assert not attempt.is_success and delivery.status == "pending"  # a 3xx is not a 2xx: retried, never followed
    assert len(receiver.requests) == 1
    assert internal.requests == []
