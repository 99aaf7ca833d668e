"""A small local server that speaks enough of Stripe's HTTP API for the official library.

Tests reach it through the one StripeClient factory (stripe_integration/client.py), whose
base addresses come from `STRIPE_API_BASE` and `STRIPE_CONNECT_BASE`; the `fake_stripe`
fixture points both at this server. Nothing of ours is patched: the real library builds the
real requests, and this server answers them the way Stripe does, errors included.

Connect (connect.stripe.com):
  GET  /oauth/authorize     the consent page: redirects to `redirect_uri` with `code` and `state`
                            for the account set by `authorize_as()`, or with `error=access_denied`
  POST /oauth/token         grant_type=authorization_code; codes are single use
  POST /oauth/deauthorize   client_id + stripe_user_id

API (api.stripe.com), backed by an in-memory store filled with `put(obj, account=...)`:
  GET  /v1/<plural>/<id>    e.g. /v1/customers/cus_1, /v1/checkout/sessions/cs_1; 404 resource_missing if unknown
  GET  /v1/<plural>?k=v     a list filtered by equality on fields (`payment[payment_intent]` reads nested ones),
                            newest first, paginated as Stripe does (limit, starting_after, has_more); a promotion
                            code's `code` matches case-insensitively, as Stripe's does
  GET  /v1/customers/search?query=email:'x@y'   Stripe's search (email, exact and case-insensitive; `name`, `metadata`)
  GET  /v1/checkout/sessions/<id>/line_items   the items given to `put_line_items` (404 for an unknown session)
  GET  /v1/account          the account named by the Stripe-Account header
  POST /v1/promotion_codes  creates a code for a coupon (`promotion[coupon]`, or `coupon` on older API versions)
  GET  /v1/events           the account's events added with `add_event()`, as Stripe lists them: newest first,
                            `created[gt|gte|lt|lte]`, `type`, `types[]`, `limit` (1 to 100, default 10) and
                            `starting_after` / `ending_before` paging, in Stripe's list shape
`expand[]` works on objects and lists (`data.` prefixed): an id is replaced by the object of that id, including
objects with no endpoint of their own such as discounts (`put_expandable`). Objects put for a connected account are
only visible with that account's Stripe-Account header. An account whose access was revoked (`oauth/deauthorize`, or
`deny_access()`) is refused 403 (or the status given), as Stripe refuses a platform that lost access.

Every request is recorded in `requests` (method, path, query, headers, form) for assertions.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from .stripe_events import fixture

# Stripe's API namespaces: "/v1/checkout/sessions" is a list, "/v1/customers/cus_1" an object.
NAMESPACES = frozenset(
    {
        "apps",
        "billing",
        "billing_portal",
        "checkout",
        "climate",
        "entitlements",
        "financial_connections",
        "forwarding",
        "identity",
        "issuing",
        "radar",
        "reporting",
        "sigma",
        "tax",
        "terminal",
        "test_helpers",
        "treasury",
    }
)


def plural_path(object_type: str) -> str:
    """Stripe's collection path for an object type: "checkout.session" -> "checkout/sessions"."""
    *namespace, name = object_type.split(".")
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy")):
        plural = name[:-1] + "ies"
    elif name.endswith(("s", "x")):
        plural = name + "es"
    else:
        plural = name + "s"
    return "/".join([*namespace, plural])


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def stripe_account(self) -> str | None:
        return self.headers.get("stripe-account")

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


@dataclass
class _Code:
    account_id: str
    scope: str
    used: bool = False


@dataclass
class _Failure:
    status: int
    body: dict
    remaining: int
    headers: dict
    after: int = 0  # requests answered normally before the failures start


class StripeHTTPError(Exception):
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body


def _api_error(
    status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> StripeHTTPError:
    error = {"type": type, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return StripeHTTPError(status, {"error": error})


def _oauth_error(status: int, error: str, description: str) -> StripeHTTPError:
    return StripeHTTPError(status, {"error": error, "error_description": description})


@dataclass
class FakeStripe:
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

    def oauth_authorize(self, req: RecordedRequest) -> str:
        q = req.query
        if q.get("client_id") != self.client_id:
            raise _oauth_error(401, "invalid_client", f"No such application: '{q.get('client_id', '')}'")
        if q.get("response_type") != "code":
            raise _oauth_error(400, "unsupported_response_type", "Only response_type=code is supported.")
        scope = q.get("scope", "read_only")
        if scope not in ("read_only", "read_write"):
            raise _oauth_error(400, "invalid_scope", f"Invalid scope: {scope}")
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri:
            raise _oauth_error(400, "invalid_request", "No redirect_uri provided and none configured.")
        params = {"state": q["state"]} if "state" in q else {}
        if self.authorizing_account is None:
            params = {"error": "access_denied", "error_description": "The user denied your request", **params}
        else:
            params = {"scope": scope, "code": self.issue_code(self.authorizing_account, scope=scope), **params}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return redirect_uri + separator + urlencode(params)

    def oauth_token(self, req: RecordedRequest) -> dict:
        self._check_secret_key(req)
        form = req.form
        if form.get("grant_type") != "authorization_code":
            raise _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {form.get('grant_type', '')}")
        code = form.get("code", "")
        if not code:
            raise _oauth_error(400, "invalid_request", "No authorization code provided")
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                raise _oauth_error(400, "invalid_grant", f"Authorization code does not exist: {code}")
            if grant.used:
                raise _oauth_error(
                    400,
                    "invalid_grant",
                    "This authorization code has already been used. "
                    "All tokens issued with this code have been revoked.",
                )
            grant.used = True
            self._connected.add(grant.account_id)
            self._revoked.discard(grant.account_id)
        mode = "live" if self.secret_key.startswith("sk_live") else "test"
        return {
            "access_token": f"{'rk' if grant.scope == 'read_only' else 'sk'}_{mode}_{secrets.token_hex(24)}",
            "livemode": mode == "live",
            "refresh_token": "rt_" + secrets.token_hex(24),
            "scope": grant.scope,
            "stripe_publishable_key": f"pk_{mode}_{secrets.token_hex(24)}",
            "stripe_user_id": grant.account_id,
            "token_type": "bearer",
        }

    def oauth_deauthorize(self, req: RecordedRequest) -> dict:
        self._check_secret_key(req)
        client_id, account_id = req.form.get("client_id", ""), req.form.get("stripe_user_id", "")
        if not client_id:
            raise _oauth_error(400, "invalid_request", "No client_id provided")
        if client_id != self.client_id:
            raise _oauth_error(401, "invalid_client", f"No such application: '{client_id}'")
        if not account_id:
            raise _oauth_error(400, "invalid_request", "No stripe_user_id provided")
        with self._lock:
            if account_id not in self._connected:
                raise _oauth_error(
                    401,
                    "invalid_client",
                    f"This application is not connected to stripe account "
                    f"{account_id}, or that account does not exist.",
                )
            self._connected.discard(account_id)
            self._revoked.add(account_id)
        return {"stripe_user_id": account_id}

    def api_get(self, req: RecordedRequest) -> dict:
        self._check_secret_key(req)
        account = req.stripe_account
        if account and account in self._revoked:
            raise _api_error(
                403,
                f"The provided key '{self.secret_key[:8]}***' does not have access to account "
                f"'{account}' (or that account does not exist). "
                "Application access may have been revoked.",
                code="account_invalid",
            )
        if account and account in self._denied:
            status = self._denied[account]
            raise _api_error(
                status,
                f"The provided key '{self.secret_key[:8]}***' does not have access to account '{account}' "
                "(or that account does not exist). Application access may have been revoked.",
                type="invalid_request_error",
                code="account_invalid" if status == 403 else None,
            )
        rest = req.path[len("/v1/") :].strip("/")
        expand = [v for k, v in req.query.items() if k == "expand" or k.startswith("expand[")]
        if rest == "customers/search":
            return self._search_customers(account, req.query)
        if rest == "events":
            return self._list_events(account, req.query)
        if rest == "account":
            if not account:
                raise _api_error(400, "This request needs a Stripe-Account header in this test server.")
            rest, account = f"accounts/{account}", None
        collection, _, object_id = rest.rpartition("/")
        if collection.startswith("checkout/sessions/") and object_id == "line_items":
            return self._line_items(rest, collection, account, req.query)
        object_type = self._object_type(collection)
        if object_type is None:  # not "<collection>/<id>": a list of `rest`
            with self._lock:
                members = [
                    o for (acct, key), o in self._objects.items() if acct == account and key.rpartition("/")[0] == rest
                ]
            listed = self._list(rest, members, req.query)
            return self._expand(listed, [p.removeprefix("data.") for p in expand if p.startswith("data.")], account)
        with self._lock:
            obj = self._objects.get((account, rest))
        if obj is None:
            raise _api_error(404, f"No such {object_type}: '{object_id}'", code="resource_missing", param="id")
        return self._expand(self._public(obj), expand, account)

    def _expand(self, obj: dict, paths: list[str], account: str | None) -> dict:
        """Stripe's `expand[]`: each dotted path's ids replaced by their objects (lists are walked item by item)."""
        if obj.get("object") == "list":
            for item in obj["data"]:
                self._expand(item, paths, account)
            return obj
        for path in paths:
            self._expand_path(obj, path.split("."), account)
        return obj

    def _expand_path(self, value, parts: list[str], account: str | None):
        if isinstance(value, list):
            return [self._expand_path(item, parts, account) for item in value]
        if not parts:
            return self._find_by_id(value, account) if isinstance(value, str) else value
        if isinstance(value, dict) and parts[0] in value:
            value[parts[0]] = self._expand_path(value[parts[0]], parts[1:], account)
        return value

    def _find_by_id(self, object_id: str, account: str | None):
        with self._lock:
            found = self._expandables.get((account, object_id))
            if found is None:
                found = next(
                    (o for (acct, key), o in self._objects.items() if acct == account and o.get("id") == object_id),
                    None,
                )
        return self._public(found) if found is not None else object_id

    def _search_customers(self, account: str | None, query: dict[str, str]) -> dict:
        """GET /v1/customers/search: `email:'...'`, `name:'...'` or `metadata['key']:'...'` clauses joined by AND."""
        text = query.get("query", "")
        clauses = [c.strip() for c in text.split(" AND ") if c.strip()]
        if not clauses:
            raise _api_error(400, "Missing required param: query.", code="parameter_missing", param="query")
        tests = []
        for clause in clauses:
            name, sep, quoted = clause.partition(":")
            if not sep or len(quoted) < 2 or quoted[0] != "'" or quoted[-1] != "'":
                raise _api_error(400, f"We were unable to parse your search query. Clause: {clause}", param="query")
            wanted = quoted[1:-1].lower()
            if name.startswith("metadata['") and name.endswith("']"):
                key = name[len("metadata['") : -2]
                tests.append(lambda o, k=key, w=wanted: str((o.get("metadata") or {}).get(k, "")).lower() == w)
            elif name in ("email", "name", "phone"):
                tests.append(lambda o, f=name, w=wanted: str(o.get(f) or "").lower() == w)
            else:
                raise _api_error(400, f"Field `{name}` is an unsupported search field for customers.", param="query")
        with self._lock:
            found = [
                o
                for (acct, key), o in self._objects.items()
                if acct == account and key.startswith("customers/") and all(test(o) for test in tests)
            ]
        found.sort(key=lambda o: o["_order"], reverse=True)
        limit = max(1, min(int(query.get("limit", 10)), 100))
        return {
            "object": "search_result",
            "data": [self._public(o) for o in found[:limit]],
            "has_more": len(found) > limit,
            "next_page": None,
            "url": "/v1/customers/search",
        }

    def api_create_promotion_code(self, req: RecordedRequest) -> dict:
        """POST /v1/promotion_codes for a stored coupon; the code text must be free among active codes."""
        self._check_secret_key(req)
        account = req.stripe_account
        form = req.form
        coupon_id = form.get("promotion[coupon]") or form.get("coupon") or ""
        if not coupon_id:
            raise _api_error(400, "Missing required param: promotion[coupon].", code="parameter_missing")
        with self._lock:
            coupon = self._objects.get((account, f"coupons/{coupon_id}"))
        if coupon is None:
            raise _api_error(400, f"No such coupon: '{coupon_id}'", code="resource_missing", param="promotion[coupon]")
        code = form.get("code") or secrets.token_hex(4).upper()
        with self._lock:
            taken = any(
                acct == account
                and key.startswith("promotion_codes/")
                and o["active"]
                and o["code"].lower() == code.lower()
                for (acct, key), o in self._objects.items()
            )
        if taken:
            raise _api_error(
                400,
                "An active promotion code with `code` already exists.",
                code="resource_already_exists",
                param="code",
            )
        promotion_code = fixture("promotion_code")
        promotion_code.update(
            id="promo_" + secrets.token_hex(12),
            code=code,
            active=True,
            created=int(time.time()),
            expires_at=None,
            metadata={k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            promotion={"type": "coupon", "coupon": coupon_id},
        )
        return self.put(promotion_code, account=account)

    def _line_items(self, rest: str, session_key: str, account: str | None, query: dict[str, str]) -> dict:
        with self._lock:
            session = self._objects.get((account, session_key))
            items = [
                o for (acct, key), o in self._objects.items() if acct == account and key.rpartition("/")[0] == rest
            ]
        if session is None:
            session_id = session_key.rpartition("/")[2]
            raise _api_error(404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="id")
        items.sort(key=lambda o: o["_order"])  # a session's items in their order, as Stripe lists them
        limit = max(1, min(int(query.get("limit", 10)), 100))
        return {
            "object": "list",
            "data": [self._public(o) for o in items[:limit]],
            "has_more": len(items) > limit,
            "url": f"/v1/{rest}",
        }

    def _object_type(self, collection: str) -> str | None:
        """The object type kept under `collection` ("checkout/sessions" -> "checkout.session"); None for a namespace."""
        if not collection or collection in NAMESPACES:
            return None
        with self._lock:
            for (_, key), obj in self._objects.items():
                if key.rpartition("/")[0] == collection:
                    return obj["object"]
        *namespace, plural = collection.split("/")
        if plural.endswith("ies"):
            name = plural[:-3] + "y"
        elif plural.endswith(("sses", "xes")):
            name = plural[:-2]
        else:
            name = plural.removesuffix("s")
        return ".".join([*namespace, name])

    def _list(self, rest: str, objects: list[dict], query: dict[str, str]) -> dict:
        limit = max(1, min(int(query.get("limit", 10)), 100))
        filters = {
            k: v
            for k, v in query.items()
            if k not in ("limit", "starting_after", "ending_before") and not k.startswith("expand")
        }
        insensitive = CASE_INSENSITIVE_FILTERS.get(rest, ())
        matching = [
            o
            for o in objects
            if all(_matches(_as_query_value(_field(o, k)), v, k in insensitive) for k, v in filters.items())
        ]
        matching.sort(key=lambda o: o["_order"], reverse=True)  # Stripe lists newest first
        if "starting_after" in query:
            ids = [o["id"] for o in matching]
            if query["starting_after"] in ids:
                matching = matching[ids.index(query["starting_after"]) + 1 :]
        page = matching[:limit]
        return {
            "object": "list",
            "data": [self._public(o) for o in page],
            "has_more": len(matching) > limit,
            "url": f"/v1/{rest}",
        }

    def _list_events(self, account: str | None, query: dict[str, str]) -> dict:
        """GET /v1/events as Stripe answers it: the account's events, newest first, filtered, one page."""
        if not account:
            raise _api_error(400, "This test server lists events of a connected account only (Stripe-Account).")
        try:
            limit = int(query.get("limit", 10))
        except ValueError:
            raise _api_error(400, "Invalid integer: " + query["limit"], param="limit") from None
        if not 1 <= limit <= 100:
            raise _api_error(400, f"This value must be between 1 and 100 (it currently is {limit}).", param="limit")
        bounds = {}
        for op in ("gt", "gte", "lt", "lte"):
            if f"created[{op}]" in query:
                try:
                    bounds[op] = int(query[f"created[{op}]"])
                except ValueError:
                    raise _api_error(
                        400, "Invalid integer: " + query[f"created[{op}]"], param=f"created[{op}]"
                    ) from None
        types = [v for k, v in sorted(query.items()) if k.startswith("types[")]
        if types and "type" in query:
            raise _api_error(400, "You may pass either `type` or `types`, but not both.", param="types")
        if len(types) > 20:
            raise _api_error(400, "You may pass at most 20 `types`.", param="types")
        if "type" in query:
            types = [query["type"]]
        with self._lock:
            events = sorted(self._events.get(account, []), key=lambda e: (e["created"], e["_order"]), reverse=True)
        position = {e["id"]: (e["created"], e["_order"]) for e in events}
        for cursor in ("starting_after", "ending_before"):
            if cursor in query and query[cursor] not in position:
                raise _api_error(400, f"No such event: '{query[cursor]}'", code="resource_missing", param=cursor)
        checks = {
            "gt": lambda c, v: c > v,
            "gte": lambda c, v: c >= v,
            "lt": lambda c, v: c < v,
            "lte": lambda c, v: c <= v,
        }
        matching = [
            e
            for e in events
            if all(checks[op](e["created"], value) for op, value in bounds.items())
            and (not types or any(fnmatch.fnmatchcase(e["type"], t) for t in types))
        ]
        if "starting_after" in query:
            after = position[query["starting_after"]]
            matching = [e for e in matching if (e["created"], e["_order"]) < after]
            page = matching[:limit]
        elif "ending_before" in query:
            before = position[query["ending_before"]]
            matching = [e for e in matching if (e["created"], e["_order"]) > before]
            page = matching[-limit:]  # the page just before the cursor, still newest first
        else:
            page = matching[:limit]
        return {
            "object": "list",
            "data": [self._public(e) for e in page],
            "has_more": len(matching) > len(page),
            "url": "/v1/events",
        }

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in obj.items() if k != "_order"}

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
CASE_INSENSITIVE_FILTERS = {"promotion_codes": ("code",)}


def _matches(value: str | None, wanted: str, insensitive: bool) -> bool:
    if insensitive and value is not None:
        return value.lower() == wanted.lower()
    return value == wanted


def _field(obj: dict, key: str):
    """A list filter's field; Stripe's nested form `payment[payment_intent]` reads obj["payment"]["payment_intent"]."""
    for part in key.replace("]", "").split("["):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _as_query_value(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
