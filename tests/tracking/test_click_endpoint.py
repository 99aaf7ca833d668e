"""POST /api/track/click: what t.js sends, what is stored, and what is refused (stored nothing)."""

import hashlib
import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from affiliates.models import Affiliate, Program, Referral
from tests.factories import AffiliateFactory, ReferralFactory
from tracking import services
from tracking.models import Click

from .conftest import click_body, set_status

pytestmark = pytest.mark.django_db


def test_click_stores_click_and_referral_and_answers_with_cors(direct, merchant, affiliate, post_click):
    response = post_click(click_body(merchant), ip="203.0.113.7")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert body["days"] == 60 and body["attribution"] == "last_click"
    referral = Referral.objects.get(rid=body["referral"])
    assert (referral.merchant, referral.affiliate) == (merchant, affiliate)
    click = Click.objects.get()
    assert (click.merchant, click.affiliate, click.referral) == (merchant, affiliate, referral)
    assert click.landing_url == "https://shop.test/pricing?ref=alice"
    assert click.referrer == "https://blog.example/post"
    assert click.user_agent.startswith("Mozilla/5.0")
    assert len(click.ip_hash) == 32
    stored = " ".join(str(value) for value in Click.objects.values().get().values())
    assert "203.0.113.7" not in stored and hashlib.sha256(b"203.0.113.7").hexdigest()[:32] not in stored


def test_ip_hash_is_keyed_and_changes_daily(settings):
    day = datetime(2026, 3, 1, 12, tzinfo=timezone.get_current_timezone())
    same_day = services.hash_ip("198.51.100.1", now=day)
    assert services.hash_ip("198.51.100.1", now=day + timedelta(hours=3)) == same_day
    assert services.hash_ip("198.51.100.2", now=day) != same_day
    assert services.hash_ip("198.51.100.1", now=day + timedelta(days=1)) != same_day
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    assert services.hash_ip("198.51.100.1", now=day) != same_day


def test_proxy_header_names_the_visitor_when_configured(direct, merchant, affiliate, post_click):
    direct.TRACKING_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    post_click(click_body(merchant), ip="10.0.0.1", HTTP_X_REAL_IP="198.51.100.1")
    post_click(click_body(merchant), ip="10.0.0.1", HTTP_X_REAL_IP="198.51.100.2")
    assert Click.objects.values("ip_hash").distinct().count() == 2


def test_preflight_is_answered(client):
    response = client.options(
        "/api/track/click", HTTP_ORIGIN="https://shop.test", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "Content-Type"


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"not json", 400, "malformed"),
        (b"[1, 2]", 400, "malformed"),
        ({"c": "alice", "u": "https://shop.test/"}, 400, "invalid"),
        ({"k": "pk with spaces", "c": "alice", "u": "https://shop.test/"}, 400, "invalid"),
        ("KEY", 400, "invalid"),  # code with characters outside [A-Za-z0-9_-]
        ("KEY-LONG", 400, "invalid"),  # code longer than 64
        ("KEY-URL", 400, "invalid"),  # landing URL that is not http(s)
        (b'{"k": "' + b"x" * 9000 + b'"}', 413, "too_large"),
    ],
)
def test_bad_input_gets_4xx_json_and_stores_nothing(direct, merchant, affiliate, post_click, body, status, code):
    if body == "KEY":
        body = click_body(merchant, code="al ice")
    elif body == "KEY-LONG":
        body = click_body(merchant, code="a" * 65)
    elif body == "KEY-URL":
        body = click_body(merchant, u="javascript:alert(1)")

    response = post_click(body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert Click.objects.count() == 0 and Referral.objects.count() == 0


def test_get_is_refused(direct, client):
    response = client.get("/api/track/click")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_key_is_refused(direct, merchant, affiliate, post_click):
    response = post_click(click_body(merchant, k="pk_nobody"))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "unknown_key",
        "field": "k",
        "message": "No merchant has this public key; check the data-afficone attribute.",
    }
    assert Click.objects.count() == 0


@pytest.mark.parametrize("case", ["unknown", "other_merchant", "pending", "suspended", "rejected"])
def test_codes_that_do_not_earn_are_refused_alike(direct, merchant, other_merchant, affiliate, post_click, case):
    """Another merchant's code looks exactly like a code that does not exist: nothing is revealed."""
    code = "alice"
    if case == "unknown":
        code = "nobody"
    elif case == "other_merchant":
        AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get(), code="globex-partner")
        code = "globex-partner"
    else:
        set_status(affiliate, case)

    response = post_click(click_body(merchant, code=code))

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "unknown_code",
        "field": "c",
        "message": "No active affiliate has this code.",
    }
    assert Click.objects.count() == 0 and Referral.objects.count() == 0


def test_code_matches_in_any_case(direct, merchant, affiliate, post_click):
    response = post_click(click_body(merchant, code="ALICE"))
    assert response.status_code == 200
    assert Referral.objects.get(rid=response.json()["referral"]).affiliate == affiliate


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0) Chrome/116.0 Safari/537.36",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "",
    ],
)
def test_bots_get_2xx_and_nothing_is_stored(direct, merchant, affiliate, post_click, user_agent):
    response = post_click(click_body(merchant), user_agent=user_agent)
    assert response.status_code == 200
    assert response.json()["referral"] is None
    assert Click.objects.count() == 0 and Referral.objects.count() == 0


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",  # noqa: E501
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",  # noqa: E501
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 Edg/124.0",  # noqa: E501
    ],
)
def test_browsers_are_not_taken_for_bots(direct, merchant, affiliate, post_click, user_agent):
    response = post_click(click_body(merchant), user_agent=user_agent)
    assert response.status_code == 200 and response.json()["referral"]
    assert Click.objects.count() == 1


def test_rate_limit_per_address_and_key(direct, merchant, affiliate, post_click):
    direct.TRACKING_RATE_LIMIT_PER_MINUTE = 3
    # The window is the clock's minute (afficone/ratelimit.py): clicks sent across its end count in two windows.
    # Start well inside one, so the five clicks below share it on a slow machine too.
    if time.time() % services.RATE_WINDOW_SECONDS > services.RATE_WINDOW_SECONDS - 15:
        time.sleep(services.RATE_WINDOW_SECONDS - time.time() % services.RATE_WINDOW_SECONDS + 0.05)
    answers = [post_click(click_body(merchant), ip="198.51.100.9").status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    refused = post_click(click_body(merchant), ip="198.51.100.9")
    assert refused.json()["error"]["code"] == "rate_limited" and refused["Retry-After"] == "60"
    assert post_click(click_body(merchant), ip="198.51.100.10").status_code == 200  # another visitor
    assert Click.objects.count() == 4


def test_last_click_gives_every_click_a_new_referral(direct, merchant, affiliate, bob, post_click):
    first = post_click(click_body(merchant, code="alice")).json()["referral"]
    second = post_click(click_body(merchant, code="bob", p=first)).json()

    assert second["referral"] != first
    assert Referral.objects.get(rid=second["referral"]).affiliate == bob


def _first_click(merchant):
    Program.objects.filter(merchant=merchant).update(attribution=Program.Attribution.FIRST_CLICK, cookie_days=30)


def test_first_click_keeps_the_referral_the_visitor_holds(direct, merchant, affiliate, bob, post_click):
    _first_click(merchant)
    first = post_click(click_body(merchant, code="alice")).json()
    second = post_click(click_body(merchant, code="bob", p=first["referral"])).json()

    assert second == {"referral": first["referral"], "days": 30, "attribution": "first_click"}
    assert Referral.objects.count() == 1
    bobs_click = Click.objects.get(affiliate=bob)
    assert bobs_click.referral.rid == first["referral"] and bobs_click.referral.affiliate == affiliate


def test_first_click_keeps_an_older_referral_for_the_rest_of_its_window(direct, merchant, affiliate, bob, post_click):
    _first_click(merchant)
    old = ReferralFactory(affiliate=affiliate)
    Referral.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=20, hours=1))

    answer = post_click(click_body(merchant, code="bob", p=old.rid)).json()

    assert answer["referral"] == old.rid and answer["days"] == 10


@pytest.mark.parametrize("case", ["expired", "other_merchant", "unknown"])
def test_first_click_does_not_keep_what_is_not_a_live_referral_here(
    direct, merchant, other_merchant, affiliate, bob, post_click, case
):
    _first_click(merchant)
    if case == "expired":
        held = ReferralFactory(affiliate=affiliate)
        Referral.objects.filter(pk=held.pk).update(created_at=timezone.now() - timedelta(days=31))
        rid = held.rid
    elif case == "other_merchant":
        rid = ReferralFactory(
            affiliate=AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get())
        ).rid
    else:
        rid = "never-issued-referral-id"

    answer = post_click(click_body(merchant, code="bob", p=rid)).json()

    assert answer["referral"] != rid and answer["days"] == 30
    assert Referral.objects.get(rid=answer["referral"]).affiliate == bob


def test_damaged_referral_in_the_body_does_not_cost_the_click(direct, merchant, affiliate, post_click):
    response = post_click(click_body(merchant, p="not a referral id!"))
    assert response.status_code == 200 and Click.objects.count() == 1


def test_a_referrer_we_cannot_use_is_dropped_not_refused(direct, merchant, affiliate, post_click):
    response = post_click(click_body(merchant, r="android-app://com.google.android.gm/"))
    assert response.status_code == 200
    assert Click.objects.get().referrer == ""


def test_suspending_an_affiliate_stops_their_links_once_the_cache_expires(direct, merchant, affiliate, post_click):
    assert post_click(click_body(merchant)).status_code == 200
    set_status(affiliate, Affiliate.Status.SUSPENDED)
    from django.core.cache import cache

    cache.delete(services._link_cache_key(merchant.public_key, "alice"))  # what LINK_CACHE_SECONDS does
    assert post_click(click_body(merchant)).status_code == 404
    assert Click.objects.count() == 1


def test_tracker_endpoints_are_answered_ahead_of_the_middleware(direct, merchant, affiliate, post_click, client):
    """No HTTPS redirect (a redirected beacon is lost), no session; the host is still checked."""
    direct.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 301  # the rest of the app is redirected to https

    response = post_click(click_body(merchant))

    assert response.status_code == 200 and "Set-Cookie" not in response
    assert post_click(click_body(merchant), HTTP_HOST="evil.example").status_code == 400
    assert Click.objects.count() == 1
