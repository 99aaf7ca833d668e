"""FakeStripe: its state, what tests put in it, the HTTP server that answers the official library, and the fixture."""

from __future__ import annotations

import copy
import itertools
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.stripe_events import fixture

from .connect import ConnectEndpoints
from .reads import ApiEndpoints
from .wire import RecordedRequest, StripeHTTPError, _api_error, _Code, _Failure, plural_path


@dataclass
class FakeStripe(ConnectEndpoints, ApiEndpoints):
    secret_key: str
    client_id: str
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._objects: dict[tuple[str | None, str], dict] = {}  # (account or None, path/id) -> object
        self._expandables: dict[tuple[str | None, str], dict] = {}  # (account or None, id) -> object (discounts)
        self._order = itertools.count()
        self._codes: dict[str, _Code] = {}
        self._connected: set[str] = set()
        self._revoked: set[str] = set()
        self._writable: set[str] = set()  # accounts that granted read_write: the platform may create objects there
        self._denied: dict[str, int] = {}  # account -> the status its requests are refused with
        self._events: dict[str, list[dict]] = {}  # account -> its events, in the order they were added
        self._failures: dict[str, _Failure] = {}
        self.authorizing_account: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "call start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripe:
        fake = self

        class Handler(_Handler):
            stripe = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-stripe", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    # --- arranging a scenario -----------------------------------------------------------------------------------

    def add_account(
        self,
        account_id: str | None = None,
        *,
        name: str = "Acme Analytics, Inc.",
        display_name: str | None = None,
        **fields,
    ) -> dict:
        """Stores an `account` object built from Stripe's example, with the given id and names."""
        account = fixture("account")
        account["id"] = account_id or "acct_" + secrets.token_hex(8)
        account["business_profile"]["name"] = name
        account["settings"]["dashboard"]["display_name"] = display_name if display_name is not None else name
        account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
        account.update(fields)
        return self.put(account)

    def put(self, obj: dict, *, account: str | None = None, path: str | None = None) -> dict:
        """Stores `obj` (which has `id` and `object`) for GET /v1/<plural>/<id>.

        `account` scopes it to a connected account: only requests with that Stripe-Account
        header see it. Accounts themselves are stored on the platform (account=None).
        """
        obj = copy.deepcopy(obj)
        collection = path or plural_path(obj["object"])
        with self._lock:
            obj.setdefault("_order", next(self._order))
            self._objects[(account, f"{collection}/{obj['id']}")] = obj
        return self._public(obj)

    def put_line_items(self, session: dict, items: list[dict], *, account: str | None = None) -> None:
        """Stores a Checkout Session and its line items (`item` objects), for GET .../line_items."""
        self.put(session, account=account)
        for item in items:
            self.put(item, account=account, path=f"checkout/sessions/{session['id']}/line_items")

    def put_expandable(self, obj: dict, *, account: str | None = None) -> dict:
        """Stores `obj` for `expand[]` only: Stripe has objects (discounts) that no endpoint retrieves by id."""
        with self._lock:
            self._expandables[(account, obj["id"])] = copy.deepcopy(obj)
        return copy.deepcopy(obj)

    def get(self, object_type: str, object_id: str, *, account: str | None = None) -> dict | None:
        with self._lock:
            obj = self._objects.get((account, f"{plural_path(object_type)}/{object_id}"))
        return self._public(obj) if obj else None

    def issue_code(self, account_id: str, *, scope: str = "read_only") -> str:
        """An authorization code, as Stripe gives one after the user consents for `account_id`."""
        code = "ac_" + secrets.token_hex(12)
        with self._lock:
            self._codes[code] = _Code(account_id=account_id, scope=scope)
        return code

    def authorize_as(self, account_id: str | None) -> None:
        """Who consents on GET /oauth/authorize; None means the user clicks "Deny"."""
        self.authorizing_account = account_id

    def add_event(self, event: dict) -> dict:
        """Adds `event` (a Connect event around one of Stripe's example objects: tests/stripe_events.py's `make_event`)
        to its `account`'s events for GET /v1/events.

        Stripe lists events newest first by `created`; events of the same second in the reverse of the order added.
        """
        account = event.get("account")
        assert account, "a Connect event names its account"
        with self._lock:
            stored = copy.deepcopy(event)
            stored["_order"] = next(self._order)
            self._events.setdefault(account, []).append(stored)
        return event

    def deny_access(self, account_id: str, *, status: int = 401) -> None:
        """Requests for `account_id` (Stripe-Account) are refused with `status` from now on (401 or 403): what a
        platform gets once the merchant revoked its access in Stripe's dashboard."""
        with self._lock:
            self._denied[account_id] = status

    def fail(
        self,
        path: str,
        *,
        status: int = 500,
        times: int = 1,
        body: dict | None = None,
        should_retry: bool | None = None,
        after: int = 0,
    ) -> None:
        """The next `times` requests to `path` (after the next `after`, answered normally) answer `status`
        (Stripe's api_error shape by default).

        `should_retry` sends Stripe's `Stripe-Should-Retry` header, which the library obeys
        (False: no retry, so no backoff sleep in the test).
        """
        body = body or {"error": {"type": "api_error", "message": "An unknown error occurred."}}
        headers = {} if should_retry is None else {"Stripe-Should-Retry": "true" if should_retry else "false"}
        with self._lock:
            self._failures[path] = _Failure(status=status, body=body, remaining=times, headers=headers, after=after)

    def grant_write(self, account_id: str) -> None:
        """As if the account had connected with scope read_write (without going through OAuth)."""
        with self._lock:
            self._writable.add(account_id)

    def is_connected(self, account_id: str) -> bool:
        with self._lock:
            return account_id in self._connected

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in list(self.requests) if r.path == path and (method is None or r.method == method)]

    # --- endpoint logic (called from the handler thread) -------------------------------------------------------------

    def _check_secret_key(self, req: RecordedRequest) -> None:
        key = req.bearer
        if not key:
            raise _api_error(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth "
                "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if key != self.secret_key:
            raise _api_error(401, f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}")

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            failure = self._failures.get(path)
            if failure is None:
                return None
            if failure.after > 0:
                failure.after -= 1
                return None
            failure.remaining -= 1
            if failure.remaining <= 0:
                del self._failures[path]
            return failure


# List filters Stripe compares without regard to case.


class _Handler(BaseHTTPRequestHandler):
    stripe: FakeStripe
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output clean
        pass

    def _record(self) -> RecordedRequest:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        req = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            form=dict(parse_qsl(body, keep_blank_values=True)),
        )
        self.stripe.requests.append(req)
        return req

    def _send(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, routes: dict) -> None:
        req = self._record()
        failure = self.stripe._take_failure(req.path)
        if failure is not None:
            return self._send(failure.status, failure.body, failure.headers)
        handler = routes.get(req.path)
        if handler is None and req.path.startswith("/v1/") and self.command == "GET":
            handler = self.stripe.api_get
        if handler is None:
            return self._send(
                404,
                _api_error(
                    404,
                    f"Unrecognized request URL ({self.command}: {req.path}). Please see https://stripe.com/docs "
                    "or we can help at https://support.stripe.com/.",
                ).body,
            )
        try:
            result = handler(req)
        except StripeHTTPError as exc:
            return self._send(exc.status, exc.body)
        if isinstance(result, str):  # a redirect
            return self._send(302, None, {"Location": result})
        return self._send(200, result)

    def do_GET(self):
        self._dispatch({"/oauth/authorize": self.stripe.oauth_authorize})

    def do_POST(self):
        self._dispatch(
            {
                "/oauth/token": self.stripe.oauth_token,
                "/oauth/deauthorize": self.stripe.oauth_deauthorize,
                "/v1/promotion_codes": self.stripe.api_create_promotion_code,
            }
        )


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    """A FakeStripe on 127.0.0.1:<free port>, with STRIPE_API_BASE and STRIPE_CONNECT_BASE pointing at it.

    The environment variables are set too, so a Celery worker started after this fixture
    (tests.conftest.celery_worker) reaches the same server.
    """
    fake = FakeStripe(secret_key=settings.STRIPE_SECRET_KEY, client_id=settings.STRIPE_CLIENT_ID).start()
    for name in ("STRIPE_API_BASE", "STRIPE_CONNECT_BASE"):
        setattr(settings, name, fake.base_url)
        monkeypatch.setenv(name, fake.base_url)
    monkeypatch.setenv("STRIPE_SECRET_KEY", settings.STRIPE_SECRET_KEY)
    monkeypatch.setenv("STRIPE_CLIENT_ID", settings.STRIPE_CLIENT_ID)
    yield fake
    fake.stop()
