"""The tracker on the merchant's own domain, for real: Debian's nginx in front of the app, Chromium in front of nginx.

nginx runs as a subprocess with a config of its own in a temporary folder (pid, logs and temp paths there, a free
port): it serves a small shop page as shop.test and forwards /_a/ to the app's live server with the location block
copied from the merchant's onboarding page, exactly as a merchant would paste it. Its connections to the app leave
from 127.0.0.3 (`proxy_bind`, outside the pasted block), so the app's socket address (the proxy) differs from the
visitor's (Chromium, 127.0.0.1). A second server block pastes the same location with a wrong secret.
"""

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, wait_for
from tracking import buffer, services
from tracking.models import Click, SeenDomain

pytestmark = pytest.mark.browser

NGINX = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
VISITOR_ADDRESS = "127.0.0.1"  # Chromium's connections to nginx
PROXY_ADDRESS = "127.0.0.3"  # nginx's connections to the app

SHOP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script>window.Afficone=window.Afficone||{{q:[],ready:function(f){{Afficone.q.push(f)}}}}</script>
<script>Afficone.ready(function (r) {{ window.readyCalls = (window.readyCalls || []).concat([r]); }});</script>
{tag}
</head><body><h1>Shop</h1><a id="pl" href="https://buy.stripe.com/test_abc">Buy</a></body></html>
"""

NGINX_CONF = """{user}
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    default_type text/html;

    server {{
        listen 127.0.0.1:{port};
        server_name shop.test app.shop.test;
        root {work}/site;
        proxy_bind {proxy_address};
        location / {{ try_files /index.html =404; }}
        include {work}/afficone.conf;
    }}
    server {{
        listen 127.0.0.1:{wrong_port};
        root {work}/site;
        proxy_bind {proxy_address};
        include {work}/afficone-wrong-secret.conf;
    }}
}}
"""


@pytest.fixture(autouse=True)
def _concurrent_database():
    # The page sends the click and the installation check at once; SQLite's in-memory test database cannot take it.
    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL: concurrent requests from the browser (`make test` provides it)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copied(page: str, element_id: str) -> str:
    """What the Copy button next to <pre id=element_id> puts on the clipboard."""
    match = re.search(rf'<pre id="{element_id}"><code>(.*?)</code></pre>', page, re.S)
    assert match, f"no #{element_id} on the onboarding page"
    return html.unescape(match.group(1))


@pytest.fixture
def onboarding(client, owner, live_server, settings):
    """The merchant's onboarding page with the app at live_server's address (the host nginx forwards to)."""
    settings.SITE_URL = live_server.url.replace("localhost", "127.0.0.1")
    client.force_login(owner)
    response = client.get(reverse("affiliates:onboarding"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def nginx(onboarding, merchant):
    """nginx serving the shop on a free port, with the onboarding page's location block; yields (port, wrong_port)."""
    if not Path(NGINX).exists():
        pytest.fail(f"nginx not found at {NGINX}: `make test` installs Debian's nginx package.")
    work = Path(tempfile.mkdtemp(prefix="afficone-test-nginx-"))
    work.chmod(0o755)  # run as root, nginx's workers are an unprivileged user
    (work / "site").mkdir()
    (work / "site" / "index.html").write_text(SHOP_PAGE.format(tag=copied(onboarding, "proxy-tag")))
    location = copied(onboarding, "proxy-nginx")
    assert merchant.proxy_secret in location
    (work / "afficone.conf").write_text(location)
    (work / "afficone-wrong-secret.conf").write_text(location.replace(merchant.proxy_secret, "afps_not_the_secret"))
    port, wrong_port = free_port(), free_port()
    (work / "nginx.conf").write_text(
        NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "",
            work=work,
            port=port,
            wrong_port=wrong_port,
            proxy_address=PROXY_ADDRESS,
        )
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "error.log"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = (process.stderr.read() if process.stderr else b"").decode()
                    log = (work / "error.log").read_text() if (work / "error.log").exists() else ""
                    pytest.fail(f"nginx did not start: {error}\n{log}")
                time.sleep(0.05)
        yield port, wrong_port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def shop_browser(browser):
    rules = "--host-resolver-rules=MAP shop.test 127.0.0.1, MAP app.shop.test 127.0.0.1"
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    yield chromium
    chromium.close()


def stored_clicks():
    if buffer.is_enabled():
        buffer.flush()
    return list(Click.objects.select_related("referral").order_by("pk"))


def visitor_hash(ip):
    return services.hash_ip(ip, now=timezone.now())


def post_click(port, merchant, **headers):
    """A click sent to nginx by hand, as t.js would send it."""
    body = f'{{"k": "{merchant.public_key}", "c": "alice", "u": "http://shop.test:{port}/?ref=alice"}}'.encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_a/api/track/click",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain", "Host": f"shop.test:{port}", "User-Agent": "Mozilla/5.0", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer


def test_through_the_merchants_nginx_everything_is_first_party(nginx, shop_browser, merchant, affiliate):
    port, wrong_port = nginx
    origin = f"http://shop.test:{port}"
    if buffer.is_enabled():
        buffer.client().delete(buffer.STREAM)
    context = shop_browser.new_context()
    page = context.new_page()
    requests, errors, click_answers = [], [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda response: click_answers.append(response) if "/api/track/click" in response.url else None)

    page.goto(f"{origin}/?ref=alice")
    page.wait_for_function("window.readyCalls && window.readyCalls.length > 0")
    rid = page.evaluate("window.readyCalls[0]")
    wait_for(lambda: SeenDomain.objects.for_merchant(merchant).filter(domain="shop.test").exists())

    # Every request the page made went to the shop's own origin: the script, the click and the installation check.
    assert rid and page.evaluate("window.Afficone.referral") == rid
    assert all(url.startswith(origin + "/") for url in requests), requests
    assert {url.split("?")[0] for url in requests} >= {
        f"{origin}/",
        f"{origin}/_a/t.js",
        f"{origin}/_a/api/track/click",
        f"{origin}/_a/api/track/seen",
    }

    # The referral came as an HTTP cookie on the registrable domain, for the program's 60 days.
    (answer,) = click_answers
    set_cookie = answer.header_value("set-cookie") or ""
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in set_cookie.split(";")}
    assert set_cookie.startswith(f"afficone_ref={rid};"), set_cookie
    assert attributes["domain"] == "Domain=shop.test" and attributes["path"] == "Path=/"
    assert attributes["max-age"] == f"Max-Age={60 * 86400}" and attributes["samesite"] == "SameSite=Lax"
    assert "secure" not in attributes and "httponly" not in attributes  # plain http; t.js reads it
    (cookie,) = [c for c in context.cookies() if c["name"] == "afficone_ref"]
    assert cookie["value"] == rid and cookie["domain"] == ".shop.test" and cookie["httpOnly"] is False
    assert 59.9 < (datetime.fromtimestamp(cookie["expires"]) - datetime.now()) / timedelta(days=1) <= 60

    # The click is stored with the visitor's address as nginx forwarded it, not the proxy's.
    (click,) = stored_clicks()
    assert click.referral.rid == rid and click.affiliate == affiliate
    assert click.landing_url == f"{origin}/?ref=alice"
    assert click.ip_hash == visitor_hash(VISITOR_ADDRESS) != visitor_hash(PROXY_ADDRESS)

    # Another host of the same site reads the same referral, and sends nothing.
    before = len(requests)
    page.goto(f"http://app.shop.test:{port}/account")
    page.wait_for_function("window.readyCalls && window.readyCalls.length > 0")
    assert page.evaluate("window.Afficone.referral") == rid
    assert [url for url in requests[before:] if "/api/track/click" in url] == []
    assert errors == []
    context.close()

    # A visitor cannot choose the address through nginx: the pasted block sends only what nginx saw.
    answer = post_click(port, merchant, **{"X-Forwarded-For": "203.0.113.99", "Afficone-Proxy-Secret": "guess"})
    assert answer.status == 200 and "afficone_ref=" in (answer.headers["Set-Cookie"] or "")
    # The same block with a wrong secret: the app falls back to the proxy's own address and sets no cookie.
    wrong = post_click(wrong_port, merchant)
    assert wrong.status == 200 and wrong.headers["Set-Cookie"] is None
    assert [c.ip_hash for c in stored_clicks()[1:]] == [visitor_hash(VISITOR_ADDRESS), visitor_hash(PROXY_ADDRESS)]
