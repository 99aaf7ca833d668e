import json

import pytest

from affiliates.models import Affiliate
from tests.factories import AffiliateFactory

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@pytest.fixture
def direct(settings):
    """Clicks written in the request (the embedded default), whatever REDIS_URL says."""
    settings.TRACKING_BUFFER = False
    return settings


@pytest.fixture
def bob(merchant):
    return AffiliateFactory(merchant=merchant, program=merchant.programs.get(is_default=True), code="bob")


@pytest.fixture
def post_click(client):
    """POSTs what t.js sends: a JSON body as text/plain, from a browser's user agent."""

    def post(body, *, ip="203.0.113.7", user_agent=BROWSER_UA, path="/api/track/click", **extra):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return client.post(
            path, data, content_type="text/plain;charset=UTF-8", REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent, **extra
        )

    return post


def click_body(merchant, code="alice", **fields):
    body = {
        "k": merchant.public_key,
        "c": code,
        "u": f"https://shop.test/pricing?ref={code}",
        "r": "https://blog.example/post",
        "p": None,
    }
    body.update(fields)
    return body


def set_status(affiliate, status):
    Affiliate.objects.filter(pk=affiliate.pk).update(status=status)
