"""The fake's API reads: objects by id with expand[], lists with Stripe's filters and paging, search, line items,
events, and creating promotion codes."""

from __future__ import annotations

import copy
import fnmatch
import secrets
import time

from tests.stripe_events import fixture

from .wire import NAMESPACES, RecordedRequest, _api_error


class ApiEndpoints:
    """GET /v1/... and POST /v1/promotion_codes; mixed into FakeStripe, whose state they read."""

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
        with self._lock:
            writable = account in self._writable
        if not writable:
            raise _api_error(
                403,
                "The provided key does not have the required permissions for this endpoint on account "
                f"'{account}'. Having the 'rak_promotion_code_write' permission would allow this request to continue.",
                type="permission_error",
            )
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
            if k not in ("limit", "starting_after", "ending_before")
            and not k.startswith("expand")
            and not k.startswith("ids[")
        }
        # `ids[]` (products, prices): only the objects of those ids.
        ids = {v for k, v in query.items() if k.startswith("ids[")}
        insensitive = CASE_INSENSITIVE_FILTERS.get(rest, ())
        matching = [
            o
            for o in objects
            if (not ids or o.get("id") in ids)
            and all(_matches(_as_query_value(_field(o, k, rest)), v, k in insensitive) for k, v in filters.items())
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


CASE_INSENSITIVE_FILTERS = {"promotion_codes": ("code",)}


def _matches(value: str | None, wanted: str, insensitive: bool) -> bool:
    if insensitive and value is not None:
        return value.lower() == wanted.lower()
    return value == wanted


def _field(obj: dict, key: str, collection: str = ""):
    """A list filter's field; Stripe's nested form `payment[payment_intent]` reads obj["payment"]["payment_intent"].
    An invoice's `subscription` is at `parent.subscription_details.subscription` from API 2025-03-31, where Stripe's
    `subscription` filter finds it too."""
    if collection == "invoices" and key == "subscription" and not obj.get("subscription"):
        key = "parent[subscription_details][subscription]"
    for part in key.replace("]", "").split("["):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _as_query_value(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
