"""The script on its own, in Chromium: static pages and a stub of the app's endpoints, no database, Redis or app.

One small HTTP server (a thread) plays every site: shop.test, app.shop.test, other.test, www.other.test and
cdn.test are all mapped to it with Chromium's --host-resolver-rules, so cookies, storage and origins behave as they
would across real host names. It serves

- a page at every path, built from `Stub.page(host)` (the tag's attributes, what goes before it, the body);
- static/tracking/t.js at every path ending in /t.js (so /any/prefix/t.js works);
- POST .../api/track/<name>: recorded in `Stub.posts` and answered as the test says (`Stub.mode`).

Nothing here touches Django's database, so these tests run in every mode of `make test`, SQLite fallback included.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "tracking" / "t.js"
HOSTS = ("shop.test", "app.shop.test", "other.test", "www.other.test", "cdn.test")
KEY = "pk_tracker_test"
QUEUE_STUB = "<script>window.Afficone=window.Afficone||{q:[],ready:function(f){Afficone.q.push(f)}}</script>"
# Every ready() callback's argument, in order, in window.readyCalls.
RECORD_READY = (
    "<script>Afficone.ready(function (r) { (window.readyCalls = window.readyCalls || []).push(r); });</script>"
)
BODY = """<h1>Shop</h1>
<a id="pl" href="https://buy.stripe.com/test_abc?prefilled_email=jo%40example.com">Buy</a>
<stripe-buy-button id="bb" buy-button-id="buy_btn_1"></stripe-buy-button>
<a id="other" href="http://other.test:{port}/pricing?plan=pro">Our other shop</a>
<a id="other-sub" href="http://www.other.test:{port}/">Its www</a>
<a id="lookalike" href="http://notother.test/">Not ours</a>
<a id="sub" href="http://app.shop.test:{port}/account">Account</a>
<button id="work" onclick="this.textContent = 'it works'">Try me</button>
"""


@dataclass
class Post:
    name: str  # click, adopt, seen, lead
    host: str
    path: str
    body: dict
    content_type: str


@dataclass
class Stub:
    port: int = 0
    # What the endpoints answer: "ok", "500", "not_json", "no_referral" or "drop" (close without an answer).
    mode: str = "ok"
    days: float = 60
    adopt_days: float = 12.5
    # The tag: src, where it is loaded from (relative to the page, or absolute), and its data-* attributes.
    src: str = "/t.js"
    attributes: dict = field(default_factory=lambda: {"data-afficone": KEY})
    before_tag: str = QUEUE_STUB + RECORD_READY
    per_host: dict = field(default_factory=dict)  # host -> {"attributes": {...}, "before_tag": ...}
    posts: list = field(default_factory=list)
    preflights: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self):
        with self.lock:
            self.mode, self.days, self.adopt_days, self.src = "ok", 60, 12.5, "/t.js"
            self.attributes = {"data-afficone": KEY}
            self.before_tag, self.per_host, self.posts, self.preflights = QUEUE_STUB + RECORD_READY, {}, [], []

    def page(self, host: str) -> bytes:
        override = self.per_host.get(host, {})
        attributes = {**self.attributes, **override.get("attributes", {})}
        tag = " ".join(f'{name}="{value}"' for name, value in attributes.items())
        src = override.get("src", self.src).format(port=self.port)
        return (
            '<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>'
            f"{override.get('before_tag', self.before_tag)}"
            f'<script async src="{src}" {tag}></script></head>'
            f"<body>{BODY.format(port=self.port)}</body></html>"
        ).encode()

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def named(self, name: str) -> list[Post]:
        with self.lock:
            return [post for post in self.posts if post.name == name]


class Handler(BaseHTTPRequestHandler):
    stub: Stub

    def do_GET(self):
        path = urlsplit(self.path).path
        if path.endswith("/t.js"):
            self._reply(200, "text/javascript", SCRIPT.read_bytes())
        else:
            self._reply(200, "text/html; charset=utf-8", self.stub.page(self.headers["Host"].split(":")[0]))

    def do_OPTIONS(self):
        self.stub.preflights.append(self.path)
        self._reply(204, "text/plain", b"", {"Access-Control-Allow-Headers": "Content-Type"})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        name = path.rsplit("/api/track/", 1)[-1] if "/api/track/" in path else ""
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unreadable": raw.decode(errors="replace")}
        stub = self.stub
        with stub.lock:
            stub.posts.append(Post(name, self.headers["Host"].split(":")[0], path, body, self.headers["Content-Type"]))
            mode, count = stub.mode, len(stub.posts)
        if mode == "drop":
            self.close_connection = True
            return
        if mode == "500":
            return self._reply(500, "text/html", b"<h1>Server Error (500)</h1>")
        if mode == "not_json":
            return self._reply(200, "text/html", b"<html>a captive portal</html>")
        if name in ("seen", "lead"):
            return self._reply(204, "text/plain", b"")
        if mode == "no_referral" or name not in ("click", "adopt"):
            answer = {"referral": None, "days": None}
        elif name == "adopt":
            answer = {"referral": body.get("c"), "days": stub.adopt_days}
        else:
            answer = {"referral": f"rid-{count}-{body.get('c')}", "days": stub.days}
        self._reply(200, "application/json", json.dumps(answer).encode())

    def _reply(self, status, content_type, content, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def stub_server():
    stub = Stub()
    handler = type("StubHandler", (Handler,), {"stub": stub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    stub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stub
    server.shutdown()


@pytest.fixture(scope="session")
def sites_browser(browser):
    """Chromium with every test host name mapped to this machine."""
    rules = "--host-resolver-rules=" + ", ".join(f"MAP {host} 127.0.0.1" for host in HOSTS)
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    yield chromium
    chromium.close()


# Wraps fetch and sendBeacon before any script of the page runs, to see how the script sends.
SPY = """
window.__sent = [];
const realFetch = window.fetch;
window.fetch = function (url, options) {
  window.__sent.push({ via: "fetch", url: String(url), keepalive: !!(options && options.keepalive),
                       method: options && options.method, bodyType: typeof (options && options.body) });
  return realFetch.apply(this, arguments);
};
navigator.sendBeacon = function (url) { window.__sent.push({ via: "sendBeacon", url: String(url) }); return true; };
"""


@pytest.fixture
def stub(stub_server):
    stub_server.reset()
    yield stub_server
    stub_server.reset()


@pytest.fixture
def visitor(sites_browser, stub):
    """A fresh browser profile; collects page errors and console errors."""
    context = sites_browser.new_context()
    context.add_init_script(SPY)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
