"""With Redis unreachable, every limit fails the way afficone/ratelimit.py says, and nothing answers 500.

The cache, the click buffer and the limiter are pointed at a port where nothing listens (the shared Redis server
keeps running for everyone else).
"""

import json
import uuid

import pytest
from django.urls import reverse

from affiliates.models import Commission, Referral
from stripe_integration.models import StripeEvent
from tenants.services import create_api_key
from tests.factories import PASSWORD, ReferralFactory, UserFactory
from tests.stripe_events import checkout_session, make_event, post_event
from tests.tracking.conftest import BROWSER_UA, click_body
from tracking.models import Click, SeenDomain

pytestmark = pytest.mark.django_db

DEAD = "redis://127.0.0.1:1/0"  # nothing listens there


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = DEAD
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD}}
    return settings


@pytest.fixture
def account(db):
    return UserFactory(email=f"owner-{uuid.uuid4().hex[:12]}@example.com")


def test_the_dashboard_portal_and_admin_logins_work(redis_down, client, merchant, account):
    account.is_staff = account.is_superuser = True
    account.save()
    for path in (
        reverse("tenants:login"),
        reverse("affiliates:portal_login", kwargs={"slug": merchant.slug}),
        "/admin/login/?next=/admin/",
    ):
        response = client.post(path, {"username": account.email, "password": PASSWORD})
        assert response.status_code == 302, path
        assert "_auth_user_id" in client.session
        client.logout()


def test_the_lockout_still_holds_within_each_process(redis_down, client, account):
    """Fails open to a count in the web process: a guesser gets the limit once per process, not without end."""
    for _ in range(10):
        response = client.post(reverse("tenants:login"), {"username": account.email, "password": "wrong guess"})
        assert "do not match" in response.content.decode()

    response = client.post(reverse("tenants:login"), {"username": account.email, "password": PASSWORD})

    assert response.status_code == 200 and "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_api_calls_are_answered_without_the_throttle(redis_down, client, merchant, affiliate):
    headers = {"Authorization": f"Bearer {create_api_key(merchant, name='Backend')[1]}"}

    listed = client.get("/api/v1/affiliates", headers=headers)
    recorded = client.post(
        "/api/v1/conversions",
        json.dumps({"id": "order-1", "referral": affiliate.code, "amount": 5000, "currency": "usd"}),
        content_type="application/json",
        headers=headers,
    )

    assert listed.status_code == 200 and listed.json()["results"][0]["code"] == affiliate.code
    assert "X-RateLimit-Remaining" not in listed  # nothing was counted, so nothing is claimed
    assert recorded.status_code == 201 and Commission.objects.get().amount == 1000


@pytest.mark.parametrize("buffer", [True, False], ids=["buffered", "direct"])
def test_clicks_and_beacons_are_stored(redis_down, client, merchant, affiliate, buffer):
    redis_down.TRACKING_BUFFER = buffer

    def post(path, body):
        return client.post(path, json.dumps(body), content_type="text/plain", HTTP_USER_AGENT=BROWSER_UA)

    clicked = post("/api/track/click", click_body(merchant))
    seen = post("/api/track/seen", {"k": merchant.public_key, "u": "https://shop.test/"})

    assert clicked.status_code == 200
    assert Click.objects.get().referral == Referral.objects.get(rid=clicked.json()["referral"])
    assert seen.status_code == 204 and SeenDomain.objects.get().domain == "shop.test"


def test_the_stripe_webhook_stores_the_event(redis_down, client, merchant, affiliate):
    event = make_event(
        "checkout.session.completed",
        checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid),
        account=merchant.stripe_account_id,
    )

    assert post_event(client, event).status_code == 200
    assert StripeEvent.objects.filter(stripe_id=event["id"]).exists()
