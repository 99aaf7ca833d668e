"""POST /api/track/adopt: the referral a link from another of the merchant's sites carried (data-domains)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from affiliates.models import Program, Referral
from tests.factories import AffiliateFactory, ReferralFactory
from tracking.models import Click

from .conftest import BROWSER_UA, click_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def post_adopt(client):
    def post(body, *, ip="203.0.113.7", user_agent=BROWSER_UA, **extra):
        data = body if isinstance(body, bytes) else json.dumps(body)
        return client.post(
            "/api/track/adopt", data, content_type="text/plain", REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent, **extra
        )

    return post


def adopt_body(merchant, rid):
    return {"k": merchant.public_key, "c": rid, "u": f"https://other.test/?afficone_ref={rid}", "r": "", "p": None}


def referral_aged(affiliate, days):
    referral = ReferralFactory(merchant=affiliate.merchant, affiliate=affiliate)
    Referral.objects.filter(pk=referral.pk).update(created_at=timezone.now() - timedelta(days=days))
    return referral


def test_a_live_referral_is_adopted_with_the_days_left_and_nothing_is_written(merchant, affiliate, post_adopt):
    referral = referral_aged(affiliate, 10.5)
    before = (Click.objects.count(), Referral.objects.count())

    response = post_adopt(adopt_body(merchant, referral.rid))

    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert body["referral"] == referral.rid and 49.49 < body["days"] <= 49.5
    assert (Click.objects.count(), Referral.objects.count()) == before
    assert not response.has_header("Set-Cookie")  # not through the merchant's proxy


@pytest.mark.parametrize("case", ["expired", "unknown", "other_merchant"])
def test_what_cannot_be_adopted_answers_null_alike(merchant, other_merchant, affiliate, post_adopt, case):
    if case == "expired":
        rid = referral_aged(affiliate, 60.01).rid
    elif case == "unknown":
        rid = "no-such-referral"
    else:
        theirs = AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get(), code="theirs")
        rid = referral_aged(theirs, 1).rid

    response = post_adopt(adopt_body(merchant, rid))

    assert response.status_code == 200 and response.json() == {"referral": None, "days": None}


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"not json", 400, "malformed"),
        ({"k": "pk_x", "c": "has spaces"}, 400, "invalid"),
        ({"k": "pk_x", "c": "x" * 201}, 400, "invalid"),
        ({"k": "pk_nobody", "c": "some-referral"}, 404, "unknown_key"),
    ],
)
def test_bad_adoptions_are_refused(merchant, post_adopt, body, status, code):
    response = post_adopt(body)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_a_referral_answered_a_moment_ago_is_adopted_even_before_it_is_written(
    merchant, affiliate, post_click, post_adopt
):
    """With the click buffer, the referral is still in Redis: the buffer is written first."""
    Program.objects.filter(merchant=merchant).update(cookie_days=30)
    rid = post_click(click_body(merchant)).json()["referral"]

    body = post_adopt(adopt_body(merchant, rid)).json()

    assert body["referral"] == rid and 29.99 < body["days"] <= 30


def test_through_the_merchants_proxy_the_adopted_referral_comes_as_an_http_cookie(merchant, affiliate, post_adopt):
    referral = referral_aged(affiliate, 45)
    response = post_adopt(
        adopt_body(merchant, referral.rid),
        ip="10.1.2.3",
        HTTP_AFFICONE_PROXY_SECRET=merchant.proxy_secret,
        HTTP_X_FORWARDED_FOR="198.51.100.23",
        HTTP_X_FORWARDED_HOST="www.other.test",
        HTTP_X_FORWARDED_PROTO="https",
    )
    cookie = response.cookies["afficone_ref"]
    assert cookie.value == referral.rid and cookie["domain"] == "other.test" and cookie["secure"] is True
    assert cookie["max-age"] == int(response.json()["days"] * 86400)
    assert 15 * 86400 - 60 < cookie["max-age"] <= 15 * 86400


def test_adoptions_count_against_the_visitors_click_limit(merchant, affiliate, post_click, post_adopt, settings):
    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 2
    rid = referral_aged(affiliate, 1).rid
    assert post_click(click_body(merchant)).status_code == 200
    assert post_adopt(adopt_body(merchant, rid)).status_code == 200
    refused = post_adopt(adopt_body(merchant, rid))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert post_adopt(adopt_body(merchant, rid), ip="203.0.113.8").status_code == 200


def test_bots_adopt_nothing(merchant, affiliate, post_adopt):
    rid = referral_aged(affiliate, 1).rid
    response = post_adopt(adopt_body(merchant, rid), user_agent="Googlebot/2.1 (+http://www.google.com/bot.html)")
    assert response.status_code == 200 and response.json()["referral"] is None
