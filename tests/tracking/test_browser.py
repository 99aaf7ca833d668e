"""/t.js in real Chromium: a merchant's site on two host names that share a registrable domain.

shop.test and app.shop.test are both mapped to 127.0.0.1 with Chromium's
--host-resolver-rules and served by a small HTTP server (the merchant's
site); the app runs on a third origin (live_server).
"""

import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from affiliates.models import Lead, Program, Referral
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, wait_for
from tests.factories import AffiliateFactory
from tracking import buffer
from tracking.models import Click, SeenDomain

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _concurrent_database():
    # A real browser sends the click and the installation beacon at the same moment; SQLite's shared in-memory
    # test database answers such concurrent writes with "database table is locked" instead of waiting.
    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL: concurrent requests from the browser (`make test` provides it)")


SITE = {"app": "", "key": "", "loading": "async"}
SCRIPT = Path(__file__).resolve().parents[2] / "static" / "tracking" / "t.js"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script>window.Afficone=window.Afficone||{{q:[],ready:function(f){{Afficone.q.push(f)}}}}</script>
<script>Afficone.ready(function (r) {{ (window.readyCalls = window.readyCalls || []).push(r); }});</script>
<script {loading} src="{app}/t.js" data-afficone="{key}"></script>
</head><body>
<h1>Shop</h1>
<a id="pl" href="https://buy.stripe.com/test_abc?prefilled_email=jo%40example.com&amp;client_reference_id=stale">Buy</a>
<a id="pl2" href="https://buy.stripe.com/test_def">Buy again</a>
<a id="other" href="https://example.com/pay?x=1">Elsewhere</a>
<stripe-buy-button id="bb" buy-button-id="buy_btn_1" publishable-key="pk_test_1"></stripe-buy-button>
<button id="work" onclick="this.textContent = 'it works'">Try me</button>
</body></html>
"""


class ShopHandler(BaseHTTPRequestHandler):
    """The merchant's site: every path answers the page above, with the script from the app's origin."""

    def app_origin(self):
        return SITE["app"]

    def do_GET(self):
        self._reply(200, "text/html; charset=utf-8", PAGE.format(**dict(SITE, app=self.app_origin())).encode())

    def _reply(self, status, content_type, content):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def shop_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ShopHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{server.server_address[1]}"
    server.shutdown()


class TlsShopHandler(ShopHandler):
    """The shop over https, also fronting the app (t.js and /api/track/ relayed to live_server), as a CDN would."""

    def app_origin(self):
        return f"https://{self.headers['Host']}"

    def do_GET(self):
        if self.path != "/t.js":
            return super().do_GET()
        self._reply(200, "text/javascript", SCRIPT.read_bytes())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            "Content-Type": self.headers.get("Content-Type", ""),
            "User-Agent": self.headers.get("User-Agent", ""),
        }
        upstream = urllib.request.Request(SITE["app"] + self.path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(upstream, timeout=10) as answer:
                status, content = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, content = error.code, error.read()
        self._reply(status, "application/json", content)


@pytest.fixture(scope="session")
def tls_shop_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=shop.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), TlsShopHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def shop_browser(browser):
    """A second Chromium from the same Playwright, with the merchant's host names mapped to this machine."""
    rules = "--host-resolver-rules=MAP shop.test 127.0.0.1, MAP app.shop.test 127.0.0.1"
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    yield chromium
    chromium.close()


@pytest.fixture
def shop(shop_browser, shop_server, live_server, merchant, affiliate, settings):
    """A fresh browser profile on the merchant's site; collects page errors, console errors and tracker requests."""
    SITE.update(app=live_server.url, key=merchant.public_key, loading="async")
    if buffer.is_enabled():
        buffer.client().delete(buffer.STREAM)
    context = shop_browser.new_context()
    page = context.new_page()
    page.errors, page.console_errors, page.tracker_requests = [], [], []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: page.tracker_requests.append(req.url) if "/api/track/" in req.url else None)
    page.site = lambda host, path="/": f"http://{host}:{shop_server}{path}"
    yield page
    context.close()


def ready(page):
    """Waits for Afficone.ready to have called back, and returns what it was given."""
    page.wait_for_function("window.readyCalls && window.readyCalls.length > 0")
    return page.evaluate("window.readyCalls[window.readyCalls.length - 1]")


def stored_clicks():
    if buffer.is_enabled():
        buffer.flush()
    return list(Click.objects.select_related("referral", "affiliate").order_by("pk"))


def query(url):
    return parse_qs(urlsplit(url).query)


def test_referral_follows_the_visitor_across_subdomains_and_reaches_stripe(shop, merchant, affiliate):
    shop.goto(shop.site("shop.test", "/pricing?utm_source=blog&ref=alice"))
    rid = ready(shop)

    assert rid and shop.evaluate("Afficone.referral") == rid
    clicks = stored_clicks()
    assert len(clicks) == 1 and clicks[0].referral.rid == rid and clicks[0].affiliate == affiliate
    assert clicks[0].landing_url.startswith("http://shop.test:") and "ref=alice" in clicks[0].landing_url
    # Payment Links get the id once (a stale one replaced), keeping their other parameters; Buy Buttons the attribute.
    static_link = query(shop.get_attribute("#pl", "href"))
    assert static_link == {"prefilled_email": ["jo@example.com"], "client_reference_id": [rid]}
    assert query(shop.get_attribute("#pl2", "href")) == {"client_reference_id": [rid]}
    assert shop.get_attribute("#bb", "client-reference-id") == rid
    assert shop.get_attribute("#other", "href") == "https://example.com/pay?x=1"

    # Elements added later, and a link whose address the page changes.
    shop.evaluate("""() => {
        const a = document.createElement('a'); a.id = 'late'; a.href = 'https://buy.stripe.com/test_late?locale=fr';
        const b = document.createElement('stripe-buy-button'); b.id = 'late-bb';
        document.body.append(a, b);
        document.getElementById('pl2').href = 'https://buy.stripe.com/test_changed';
    }""")
    shop.wait_for_function(
        """rid => document.getElementById('late-bb').getAttribute('client-reference-id') === rid
        && new URL(document.getElementById('late').href).searchParams.get('client_reference_id') === rid
        && new URL(document.getElementById('pl2').href).searchParams.get('client_reference_id') === rid""",
        arg=rid,
    )
    assert query(shop.get_attribute("#late", "href")) == {"locale": ["fr"], "client_reference_id": [rid]}
    assert "test_changed" in shop.get_attribute("#pl2", "href")

    # A reload of the landing page is not a second click.
    shop.reload()
    assert ready(shop) == rid
    assert len(stored_clicks()) == 1

    # The other host name of the same registrable domain reads the same referral.
    shop.goto(shop.site("app.shop.test", "/account"))
    assert ready(shop) == rid
    assert query(shop.get_attribute("#pl", "href"))["client_reference_id"] == [rid]
    cookie = next(c for c in shop.context.cookies() if c["name"] == "afficone_ref")
    assert cookie["value"] == rid and cookie["domain"] == ".shop.test"
    assert cookie["sameSite"] == "Lax" and cookie["secure"] is False
    days_left = (datetime.fromtimestamp(cookie["expires"]) - datetime.now()) / timedelta(days=1)
    assert 59.9 < days_left <= 60

    # The installation check: each host name sent its beacon.
    wait_for(
        lambda: (
            set(SeenDomain.objects.for_merchant(merchant).values_list("domain", flat=True))
            == {"shop.test", "app.shop.test"}
        )
    )
    assert len(stored_clicks()) == 1
    assert shop.errors == [] and shop.console_errors == []


def test_a_plain_page_view_sends_nothing_after_the_daily_beacon(shop, merchant):
    shop.goto(shop.site("shop.test", "/"))
    assert ready(shop) is None
    wait_for(lambda: SeenDomain.objects.for_merchant(merchant).filter(domain="shop.test").exists())
    sent = len(shop.tracker_requests)
    assert sent <= 1  # the beacon, if the browser reports it

    shop.goto(shop.site("shop.test", "/about"))
    assert ready(shop) is None
    shop.goto(shop.site("shop.test", "/blog"))
    assert ready(shop) is None

    assert len(shop.tracker_requests) == sent
    assert shop.errors == [] and shop.console_errors == []


@pytest.mark.parametrize("case", ["unknown_code", "unknown_key", "server_down"])
def test_without_a_referral_the_page_works_and_nothing_is_thrown(shop, live_server, case):
    SITE["loading"] = "defer"
    code = "alice"
    if case == "unknown_code":
        code = "nobody"
    elif case == "unknown_key":
        SITE["key"] = "pk_nobodys_key"
    else:
        shop.route(f"{live_server.url}/api/track/**", lambda route: route.abort("connectionrefused"))

    shop.goto(shop.site("shop.test", f"/?ref={code}"))

    assert ready(shop) is None
    assert shop.evaluate("Afficone.referral") is None
    assert query(shop.get_attribute("#pl", "href"))["client_reference_id"] == ["stale"]  # untouched
    assert shop.get_attribute("#bb", "client-reference-id") is None
    shop.click("#work")
    assert shop.text_content("#work") == "it works"
    assert shop.errors == []
    # The browser itself logs the refused request; the script adds nothing.
    assert all(text.startswith("Failed to load resource") for text in shop.console_errors), shop.console_errors
    assert stored_clicks() == []


@pytest.mark.parametrize("attribution", ["last_click", "first_click"])
def test_a_second_affiliate_replaces_the_referral_unless_first_click(shop, merchant, affiliate, attribution):
    Program.objects.filter(merchant=merchant).update(attribution=attribution)
    bob = AffiliateFactory(merchant=merchant, program=merchant.programs.get(), code="bob")

    shop.goto(shop.site("shop.test", "/?aff=alice"))
    first = ready(shop)
    shop.goto(shop.site("app.shop.test", "/features?via=bob"))
    second = ready(shop)

    cookie = next(c for c in shop.context.cookies() if c["name"] == "afficone_ref")
    assert cookie["value"] == second and cookie["domain"] == ".shop.test"
    clicks = stored_clicks()
    assert [c.affiliate for c in clicks] == [affiliate, bob]
    if attribution == "first_click":
        assert second == first
        assert clicks[1].referral.rid == first and Referral.objects.get(rid=first).affiliate == affiliate
    else:
        assert second != first
        assert Referral.objects.get(rid=second).affiliate == bob
    assert shop.errors == [] and shop.console_errors == []


def test_demo_shop_on_localhost_and_on_a_bare_ip(page, live_server, merchant):
    """Host-only cookies where there is no registrable domain."""
    merchant.slug = "demo-coffee-co"
    merchant.save(update_fields=["slug"])
    AffiliateFactory(merchant=merchant, program=merchant.programs.get(), code="barista", name="Bea Barista")
    rids = []
    for host in ("localhost", "127.0.0.1"):
        base = live_server.url.replace("localhost", host)
        page.goto(f"{base}/demo/shop/")
        page.click("text=Arrive via Bea Barista")
        # The click navigates; wait for the new page before reading it (the old one may be mid-unload).
        page.wait_for_url("**/demo/shop/?ref=barista")
        page.wait_for_function("(document.getElementById('referral') || {}).textContent?.length === 22")
        rid = page.text_content("#referral")
        rids.append(rid)

        assert page.get_attribute("stripe-buy-button", "client-reference-id") == rid
        page.click("#add-product")
        page.wait_for_function(
            "rid => document.querySelectorAll('a[href*=\"client_reference_id=' + rid + '\"]').length === 3", arg=rid
        )
        cookie = next(c for c in page.context.cookies(base) if c["name"] == "afficone_ref")
        assert cookie["value"] == rid and cookie["domain"] == host
        page.goto(f"{base}/demo/shop/")
        page.wait_for_function("rid => document.getElementById('referral').textContent === rid", arg=rid)

    assert [(c.referral.rid, c.affiliate.code) for c in stored_clicks()] == [(rids[0], "barista"), (rids[1], "barista")]
    assert page.console_errors == []


def test_on_https_the_cookie_is_secure(shop_browser, tls_shop_server, live_server, merchant, affiliate):
    SITE.update(app=live_server.url, key=merchant.public_key, loading="async")
    context = shop_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"https://app.shop.test:{tls_shop_server}/?ref=alice")
    rid = ready(page)

    cookie = next(c for c in context.cookies() if c["name"] == "afficone_ref")
    assert cookie["value"] == rid and cookie["domain"] == ".shop.test"
    assert cookie["secure"] is True and cookie["sameSite"] == "Lax"
    assert [c.referral.rid for c in stored_clicks()] == [rid]
    assert errors == []
    context.close()


def test_signup_on_the_app_subdomain_reports_a_lead_bound_to_the_visitors_referral(shop, merchant, affiliate):
    """Afficone.signup in real Chromium: nothing without a referral (and no error), then, after a referred visit on
    the landing page, a signup on the app's subdomain is a lead of that referral, once however often it is called."""
    shop.goto(shop.site("app.shop.test", "/signup"))
    assert ready(shop) is None
    assert shop.evaluate("Afficone.signup({email: 'nobody@example.org'})") is None  # resolves, sends nothing
    assert shop.evaluate("Afficone.signup()") is None and shop.evaluate("Afficone.signup(42)") is None
    assert not any("/api/track/lead" in url for url in shop.tracker_requests)

    shop.goto(shop.site("shop.test", "/pricing?ref=alice"))
    rid = ready(shop)
    shop.goto(shop.site("app.shop.test", "/signup"))
    assert ready(shop) == rid
    answer = shop.evaluate("Afficone.signup({email: ' Jo@Example.org ', id: 'user-7'})")
    again = shop.evaluate("Afficone.signup({email: 'jo@example.org', customer: 'cus_Jo1'})")
    assert answer["lead"] and again["lead"] == answer["lead"]
    lead = Lead.objects.get(public_id=answer["lead"])
    assert (lead.referral.rid, lead.email, lead.external_id, lead.stripe_customer_id, lead.origin) == (
        rid,
        "jo@example.org",
        "user-7",
        "cus_Jo1",
        "browser",
    )
    assert lead.referral.affiliate == affiliate
    assert shop.errors == [] and shop.console_errors == []
