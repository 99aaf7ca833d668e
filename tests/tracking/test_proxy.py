"""The tracker behind the merchant's own proxy (tracking/proxy.py): whom the app trusts, and the HTTP cookie.

The trust boundary: X-Forwarded-* count only with the merchant's Afficone-Proxy-Secret; without it, with a wrong one
or with another merchant's, forged headers change nothing (the socket's address is used and no cookie is set).
"""

import html
import importlib
import json
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from affiliates.models import Program
from tenants.models import Membership, Merchant
from tests.factories import MembershipFactory, MerchantFactory
from tracking import proxy, services
from tracking.models import Click, SeenDomain
from tracking.templatetags.tracking import PROXY_CONFIGS, PROXY_SECRET_PLACEHOLDER

from .conftest import BROWSER_UA, click_body

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"
PROXY_ADDRESS = "10.1.2.3"  # the merchant's proxy, as the app's socket sees it
VISITOR = "198.51.100.23"


@pytest.fixture
def through_proxy(post_click, merchant):
    """POSTs a click as the merchant's nginx forwards it: the visitor's address and host in X-Forwarded-*."""

    def post(*, secret=None, forwarded_for=VISITOR, host="shop.test", proto="http", body=None, **extra):
        headers = {"HTTP_X_FORWARDED_FOR": forwarded_for, "HTTP_X_FORWARDED_HOST": host}
        headers["HTTP_X_FORWARDED_PROTO"] = proto
        if secret is not None:
            headers["HTTP_AFFICONE_PROXY_SECRET"] = secret
        return post_click(body or click_body(merchant), ip=PROXY_ADDRESS, **headers, **extra)

    return post


def visitor_hash(ip):
    return services.hash_ip(ip, now=timezone.now())


@pytest.mark.parametrize("case", ["no_secret", "empty", "wrong", "other_merchant"])
def test_forged_forwarded_headers_without_the_right_secret_change_nothing(
    direct, merchant, other_merchant, affiliate, through_proxy, case
):
    secret = {"no_secret": None, "empty": "", "wrong": merchant.proxy_secret[:-1] + "x"}.get(
        case, other_merchant.proxy_secret
    )

    response = through_proxy(secret=secret, forwarded_for="192.0.2.200", host="app.shop.test", proto="https")

    assert response.status_code == 200 and response.json()["referral"]
    assert "afficone_ref" not in response.cookies and not response.has_header("Set-Cookie")
    click = Click.objects.get()
    assert click.ip_hash == visitor_hash(PROXY_ADDRESS) != visitor_hash("192.0.2.200")


def test_with_the_right_secret_the_forwarded_visitor_counts_and_the_referral_comes_as_an_http_cookie(
    direct, merchant, affiliate, through_proxy
):
    response = through_proxy(secret=merchant.proxy_secret, host="app.shop.test")

    assert response.status_code == 200
    body = response.json()
    assert Click.objects.get().ip_hash == visitor_hash(VISITOR)
    cookie = response.cookies["afficone_ref"]
    assert cookie.value == body["referral"]
    assert cookie["domain"] == "shop.test" and cookie["path"] == "/" and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 60 * 86400 == body["days"] * 86400
    assert not cookie["secure"]  # the visitor came over plain http
    assert not cookie["httponly"]  # t.js and the merchant's pages read it
    assert response["Access-Control-Allow-Origin"] == "*"


def test_the_cookie_is_secure_when_the_visitor_came_over_https(direct, merchant, affiliate, through_proxy):
    # Proxies that append their own hop (Next.js behind a load balancer) send a list: the first is the visitor's.
    cookie = through_proxy(secret=merchant.proxy_secret, proto="https, http").cookies["afficone_ref"]
    assert cookie["secure"] is True and cookie["domain"] == "shop.test"


def test_the_cookie_lasts_the_programs_days_and_what_is_left_of_a_first_click(
    direct, merchant, affiliate, through_proxy
):
    Program.objects.filter(merchant=merchant).update(cookie_days=30, attribution=Program.Attribution.FIRST_CLICK)
    first = through_proxy(secret=merchant.proxy_secret)
    assert first.cookies["afficone_ref"]["max-age"] == 30 * 86400

    again = through_proxy(secret=merchant.proxy_secret, body=click_body(merchant, p=first.json()["referral"]))
    assert again.cookies["afficone_ref"].value == first.json()["referral"]
    assert again.cookies["afficone_ref"]["max-age"] == again.json()["days"] * 86400 == 30 * 86400


@pytest.mark.parametrize(
    "forwarded_for, peer_header, visitor",
    [
        (VISITOR, None, VISITOR),
        # The visitor's browser claimed an address; the merchant's proxy appended the real one.
        (f"203.0.113.66, {VISITOR}", None, VISITOR),
        # Afficone's own front proxy (deploy/nginx.conf) appended the merchant's proxy, which it names in X-Real-IP.
        (f"203.0.113.66, {VISITOR}, {PROXY_ADDRESS}", PROXY_ADDRESS, VISITOR),
        (f"[2001:db8::7]:4711, {PROXY_ADDRESS}", PROXY_ADDRESS, "2001:db8::7"),
        # Without a front proxy of Afficone's nothing is skipped: a visitor behind the proxy's own address is that.
        (f"203.0.113.66, {PROXY_ADDRESS}", None, PROXY_ADDRESS),
        ("not-an-address", None, PROXY_ADDRESS),
        ("", None, PROXY_ADDRESS),
    ],
)
def test_the_visitor_is_the_last_address_the_merchants_proxy_added(
    direct, merchant, affiliate, through_proxy, forwarded_for, peer_header, visitor
):
    extra = {}
    if peer_header:
        direct.TRACKING_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
        extra["HTTP_X_REAL_IP"] = peer_header
    response = through_proxy(secret=merchant.proxy_secret, forwarded_for=forwarded_for, **extra)
    assert response.status_code == 200
    assert Click.objects.get().ip_hash == visitor_hash(visitor)


def test_the_rate_limit_counts_each_forwarded_visitor_on_its_own(merchant, affiliate, through_proxy, settings):
    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 2
    secret = merchant.proxy_secret
    visitors = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]

    for visitor in visitors:
        for _ in range(2):
            assert through_proxy(secret=secret, forwarded_for=visitor).status_code == 200
    refused = through_proxy(secret=secret, forwarded_for=visitors[0])

    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"


def test_without_the_secret_forged_addresses_do_not_escape_the_rate_limit(merchant, affiliate, through_proxy, settings):
    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 2
    statuses = [through_proxy(forwarded_for=f"198.51.100.{i}").status_code for i in range(4)]
    assert statuses == [200, 200, 429, 429]


def test_the_installation_check_counts_the_forwarded_visitor_too(client, merchant, settings):
    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 1

    def seen(forwarded_for, secret):
        return client.post(
            "/api/track/seen",
            json.dumps({"k": merchant.public_key, "u": "https://shop.test/"}),
            content_type="text/plain",
            REMOTE_ADDR=PROXY_ADDRESS,
            HTTP_USER_AGENT=BROWSER_UA,
            HTTP_X_FORWARDED_FOR=forwarded_for,
            HTTP_AFFICONE_PROXY_SECRET=secret,
        ).status_code

    assert [seen("198.51.100.1", merchant.proxy_secret), seen("198.51.100.2", merchant.proxy_secret)] == [204, 204]
    assert seen("198.51.100.1", merchant.proxy_secret) == 429
    assert seen("198.51.100.3", "wrong") == 204  # the proxy's own address, counted once
    assert seen("198.51.100.4", "wrong") == 429
    assert SeenDomain.objects.for_merchant(merchant).get().domain == "shop.test"


@pytest.mark.parametrize(
    "host, domain",
    [
        ("shop.test", "shop.test"),
        ("app.shop.test", "shop.test"),
        ("app.shop.example.co.uk", "example.co.uk"),
        ("shop.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("WWW.Example.COM.", "example.com"),
        ("www.example.com:8443", "example.com"),
        ("my-shop.github.io", "my-shop.github.io"),  # a private suffix, as browsers treat it
        ("co.uk", None),  # a public suffix itself
        ("github.io", None),
        ("uk", None),
        ("localhost", None),
        ("203.0.113.9", None),
        ("203.0.113.9:8080", None),
        ("[2001:db8::1]:443", None),
        ("", None),
        ("shop.test/evil", None),
        ("shop .test", None),
        ("bücher.example", None),  # Host headers are ASCII (punycode); anything else is refused
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_registrable_domain(host, domain):
    assert proxy.registrable_domain(host) == domain


@pytest.mark.parametrize(
    "host, domain", [("app.shop.example.co.uk", "example.co.uk"), ("co.uk", None), ("198.51.100.80", None)]
)
def test_the_http_cookie_goes_on_the_registrable_domain_or_nowhere(
    direct, merchant, affiliate, through_proxy, host, domain
):
    response = through_proxy(secret=merchant.proxy_secret, host=host)
    assert response.status_code == 200 and response.json()["referral"]
    if domain is None:
        assert "afficone_ref" not in response.cookies
    else:
        assert response.cookies["afficone_ref"]["domain"] == domain
    assert Click.objects.get().ip_hash == visitor_hash(VISITOR)  # the forwarded address counts either way


def test_rotating_the_secret_refuses_the_old_one_at_once(
    direct, merchant, affiliate, owner, client, through_proxy, django_capture_on_commit_callbacks
):
    old = merchant.proxy_secret
    assert "afficone_ref" in through_proxy(secret=old).cookies  # and the secret is now cached
    client.force_login(owner)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("tenants:rotate_proxy_secret"), {"next": "/onboarding/#first-party"})

    assert response.status_code == 302 and response["Location"] == "/onboarding/#first-party"
    merchant.refresh_from_db()
    new = merchant.proxy_secret
    assert new != old and new.startswith("afps_") and len(new) > 40
    assert "afficone_ref" not in through_proxy(secret=old).cookies
    assert "afficone_ref" in through_proxy(secret=new).cookies
    assert list(Click.objects.order_by("pk").values_list("ip_hash", flat=True)) == [
        visitor_hash(VISITOR),
        visitor_hash(PROXY_ADDRESS),
        visitor_hash(VISITOR),
    ]
    page = client.get(response["Location"]).content.decode()
    assert new in page and old not in page and "old one no longer works" in page


def test_rotation_stays_on_this_site(merchant_client, merchant):
    response = merchant_client.post(reverse("tenants:rotate_proxy_secret"), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/settings/#first-party"


def test_every_merchant_has_a_secret_of_its_own_including_those_from_before_the_migration(merchant, other_merchant):
    assert merchant.proxy_secret != other_merchant.proxy_secret
    Merchant.objects.update(proxy_secret="")
    migration = importlib.import_module("tenants.migrations.0004_merchant_proxy_secret")

    migration.fill_secrets(apps, None)

    secrets = list(Merchant.objects.values_list("proxy_secret", flat=True))
    assert len(secrets) == len(set(secrets)) == 2 and all(s.startswith("afps_") for s in secrets)


# --- the dashboard: the secret and the proxy configurations -----------------------------------------------------


def snippet(page: str, element_id: str) -> str:
    """The text of <pre id=element_id> on a page, as a merchant copies it."""
    match = re.search(rf'<pre id="{element_id}"><code>(.*?)</code></pre>', page, re.S)
    assert match, element_id
    return html.unescape(match.group(1))


@pytest.mark.parametrize("page_name", ["affiliates:onboarding", "affiliates:settings"])
def test_the_install_section_shows_the_proxy_configurations_with_the_merchants_values(
    merchant_client, merchant, settings, page_name
):
    settings.SITE_URL = "https://afficone.example.com"
    page = merchant_client.get(reverse(page_name)).content.decode()
    secret, key = merchant.proxy_secret, merchant.public_key

    assert f'<code id="proxy-secret">{secret}</code>' in page
    assert snippet(page, "proxy-tag") == f'<script async src="/_a/t.js" data-afficone="{key}"></script>'

    nginx = snippet(page, "proxy-nginx")
    assert "location /_a/ {" in nginx and "proxy_pass https://afficone.example.com/;" in nginx
    assert f'proxy_set_header Afficone-Proxy-Secret "{secret}";' in nginx
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx
    assert "proxy_set_header X-Forwarded-Host $host;" in nginx

    nextjs = snippet(page, "proxy-nextjs")
    assert 'matcher: "/_a/:path*"' in nextjs and "NextResponse.rewrite(target, { request: { headers } })" in nextjs
    assert f'headers.set("Afficone-Proxy-Secret", "{secret}");' in nextjs
    assert 'new URL(pathname.slice(3) + search, "https://afficone.example.com")' in nextjs

    vercel = json.loads(snippet(page, "proxy-vercel"))
    (route,) = vercel["routes"]
    assert route["src"] == "/_a/(.*)" and route["dest"] == "https://afficone.example.com/$1"
    assert {"type": "request.headers", "op": "set", "target": {"key": "Afficone-Proxy-Secret"}, "args": secret} in (
        route["transforms"]
    )

    worker = snippet(page, "proxy-cloudflare")
    assert 'const AFFICONE = "https://afficone.example.com";' in worker and f'const SECRET = "{secret}";' in worker
    assert 'headers.set("X-Forwarded-For", request.headers.get("CF-Connecting-IP") || "");' in worker
    assert "url.pathname.slice(3)" in worker
    assert "Rotate the secret" in page


def test_members_see_the_configurations_but_not_the_secret(client, merchant):
    member = MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER)
    client.force_login(member.user)

    page = client.get(reverse("affiliates:onboarding")).content.decode()

    assert merchant.proxy_secret not in page and "Rotate the secret" not in page
    assert f'"{PROXY_SECRET_PLACEHOLDER}"' in snippet(page, "proxy-nginx")
    assert client.post(reverse("tenants:rotate_proxy_secret")).status_code == 403


def test_another_merchants_secret_is_never_shown(merchant_client, merchant):
    other = MerchantFactory()
    page = merchant_client.get(reverse("affiliates:settings")).content.decode()
    assert other.proxy_secret not in page and merchant.proxy_secret in page


@pytest.mark.parametrize("template", [name for _, _, name in PROXY_CONFIGS])
def test_the_readme_shows_the_same_configurations(template):
    """README.md's copies are the dashboard's templates with placeholders for the host and the secret."""
    rendered = render_to_string(
        template, {"prefix": "/_a", "app_url": "https://APP_HOST", "secret": "YOUR_PROXY_SECRET"}
    )
    assert rendered.strip() in README.read_text()
