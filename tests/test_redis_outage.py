"""With Redis unreachable, every limit fails the way afficone/ratelimit.py says, and nothing answers 500.

The cache, the click buffer and the limiter are pointed at a port where nothing listens (the shared Redis server
keeps running for everyone else).
"""

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from django.urls import reverse

from affiliates.models import Affiliate, Commission, Payout, Referral
from stripe_integration.models import StripeEvent
from tenants.services import create_api_key
from tests.conftest import requires_real_stack, stack_env
from tests.factories import PASSWORD, AffiliateFactory, CommissionFactory, ReferralFactory, UserFactory
from tests.processes import start_web, stop
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


# --- the production shape: gunicorn, tasks sent to the (unreachable) broker ----------------------------------------
# Above, tasks run in-process as everywhere in the suite; here gunicorn serves the app with REDIS_URL naming the dead
# port and tasks sent to Redis as in production, so every request that enqueues a task meets the outage too. Emails
# are written to files, to see which still went out.


class Browser:
    """urllib with a cookie jar and without following redirects: a person's browser, one request at a time."""

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._Stay)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def log_in(self, path: str, email: str) -> int:
        self.request("GET", path)
        token = next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")
        form = urllib.parse.urlencode({"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", path, form.encode(), headers)[0]

    def api(self, method: str, path: str, key: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        status, text = self.request(method, path, data, headers)
        return status, json.loads(text) if text else None


@pytest.fixture
def outage_web(transactional_db, tmp_path):
    """(gunicorn's base URL, the folder its emails are written to)."""
    requires_real_stack()
    mail = tmp_path / "mail"
    env = {
        **stack_env(DEAD),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail),
    }
    web, base = start_web(env, "redis-outage-web.log")
    yield base, mail
    stop(web)


def _emails(mail) -> str:
    return "".join(path.read_text() for path in mail.glob("*")) if mail.exists() else ""


def test_logins_and_pages_are_served_by_gunicorn(outage_web, merchant, owner, affiliate):
    base, _ = outage_web
    affiliate.user = UserFactory(email="alice-portal@example.com")
    affiliate.save()

    dashboard = Browser(base)
    assert dashboard.log_in(reverse("tenants:login"), owner.email) == 302
    status, page = dashboard.request("GET", reverse("affiliates:overview"))
    assert status == 200 and merchant.name in page

    portal = Browser(base)
    assert (
        portal.log_in(reverse("affiliates:portal_login", kwargs={"slug": merchant.slug}), affiliate.user.email) == 302
    )
    status, page = portal.request("GET", reverse("affiliates:portal_dashboard", kwargs={"slug": merchant.slug}))
    assert status == 200 and affiliate.code in page

    stranger = Browser(base)
    assert stranger.log_in(reverse("tenants:login"), "nobody@example.com") == 200  # the form again, with its error
    assert not any(cookie.name == "sessionid" for cookie in stranger.jar)


def test_api_calls_are_served_and_their_emails_still_go_out(outage_web, merchant, affiliate):
    base, mail = outage_web
    key = create_api_key(merchant, name="Backend")[1]
    browser = Browser(base)
    pending = AffiliateFactory(merchant=merchant, program=affiliate.program, status="pending", email="pat@example.com")

    for resource in ("affiliates", "referrals", "commissions", "payouts", "programs", "conversions"):
        status, body = browser.api("GET", f"/api/v1/{resource}", key)
        assert status == 200 and "results" in body, resource
    # Each of these commits and then sends a task (an email) to the broker, which is down.
    status, sale = browser.api(
        "POST",
        "/api/v1/conversions",
        key,
        {"id": "order-7", "referral": affiliate.code, "amount": 5000, "currency": "usd"},
    )
    assert status == 201, sale
    status, approved = browser.api("PATCH", f"/api/v1/affiliates/{pending.uid}", key, {"status": "approved"})
    assert status == 200 and approved["status"] == "approved"
    status, created = browser.api("POST", "/api/v1/affiliates", key, {"email": "newcomer@example.com"})
    assert status == 201, created
    CommissionFactory(referral=ReferralFactory(affiliate=affiliate), amount=9000, status="approved")
    status, batch = browser.api("POST", "/api/v1/payouts", key)
    assert status == 201 and len(batch["payouts"]) == 1, batch
    payout = Payout.objects.get(affiliate=affiliate)
    status, paid = browser.api("POST", f"/api/v1/payouts/{payout.code}/mark-paid", key, {"reference": "tr_1"})
    assert status == 200 and paid["status"] == "paid"

    assert Commission.objects.get(source_id="conv_order-7").amount == 1000
    assert Affiliate.objects.get(pk=pending.pk).status == "approved"
    # Sent from the web process, since no worker could be asked to.
    emails = _emails(mail)
    assert "To: pat@example.com" in emails  # approved
    assert emails.count(f"To: {affiliate.email}") == 2  # the new commission, then the payout
    assert "Subject: Your payout" in emails


def test_the_click_endpoint_and_the_webhook_are_served_by_gunicorn(outage_web, merchant, affiliate):
    base, _ = outage_web
    browser = Browser(base)
    headers = {"Content-Type": "text/plain", "User-Agent": BROWSER_UA}

    status, text = browser.request("POST", "/api/track/click", json.dumps(click_body(merchant)).encode(), headers)
    assert status == 200
    rid = json.loads(text)["referral"]
    assert Referral.objects.filter(rid=rid).exists() and Click.objects.filter(referral__rid=rid).exists()

    event = make_event(
        "checkout.session.completed", checkout_session(client_reference_id=rid), account=merchant.stripe_account_id
    )
    status, _ = post_event(base, event)
    assert status == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status == StripeEvent.Status.PENDING  # stored; the sweep asks for a drainer once Redis is back
