"""Hostile input (tests/fuzzing.py) sent to every endpoint that takes input from outside, with good input between.

Surfaces: every URL under /api/track/ in the URLconf (so an endpoint added there, such as the lead or adopt endpoint
of tracker/src/t.js, is fuzzed from the day it lands; GOOD_TRACKING names the good input of those that have one),
Stripe's webhook (unsigned, and signed with the test secret), and every operation of the REST API's served schema
(/api/v1/schema/) with a valid key. For every case: no 5xx; a case that cannot be valid (malformed JSON, a bad
signature, a bad key) is refused with a 4xx; a refused case changes no row of any table and adds nothing to the click
buffer. Good input sent every few cases in the same run is all stored or processed.

The corpus is plain lists, so a run is the same every time. Every case is held to this: none is known to fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from itertools import count

import pytest
from django.conf import settings
from django.test import Client, TestCase
from django.urls import URLResolver, get_resolver

from affiliates.models import Affiliate, Commission, Referral
from stripe_integration.models import StripeEvent
from tenants.services import create_api_key
from tests.api.conftest import seed_tenant
from tests.fuzzing import HEADERS, MALFORMED, QUERY_VALUES, VALUES, Case, Judge, body_cases, encode, odd_bodies
from tests.stripe_events import checkout_session, make_event
from tests.tracking.conftest import BROWSER_UA, click_body
from tracking import buffer
from tracking.models import Click, SeenDomain, UnstoredClick
from tracking.tasks import flush_click_buffer_task
from webhooks.services import create_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet_logs():
    """Thousands of refused requests each log a warning, and the known 5xx a traceback: formatting them doubled the
    run's time. The problems are reported in each test's failure."""
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


# --- the tracker's endpoints --------------------------------------------------------------------------------------


def track_endpoints() -> list[str]:
    """Every path under /api/track/ in the URLconf."""
    found: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/track/"):
                found.add("/" + route)

    walk(get_resolver().url_patterns, "")
    return sorted(found)


def generic_track_body(merchant) -> dict:
    """Every field t.js sends to any endpoint (tracker/src/t.js), for an endpoint without a good input of its own."""
    return {
        "k": merchant.public_key,
        "u": "https://shop.test/signup",
        "c": "alice",
        "r": "https://blog.example/post",
        "p": None,
        "e": "buyer@example.org",
        "x": "user-1",
    }


GOOD_TRACKING: dict[str, Callable] = {
    "/api/track/click": lambda merchant: click_body(merchant),
    "/api/track/seen": lambda merchant: {"k": merchant.public_key, "u": "https://shop.test/"},
}

_addresses = count(1)


def visitor() -> dict:
    """A browser at an address of its own (the rate limit counts per address), as each of the corpus's requests."""
    n = next(_addresses)
    return {"REMOTE_ADDR": f"198.18.{n // 250 % 250}.{n % 250 + 1}", "HTTP_USER_AGENT": BROWSER_UA}


@pytest.fixture
def clean_buffer():
    if buffer.is_enabled():
        buffer.client().delete(buffer.STREAM, buffer.LOCK)
    yield
    if buffer.is_enabled():
        buffer.client().delete(buffer.STREAM, buffer.LOCK)


@pytest.mark.parametrize("path", track_endpoints())
def test_tracking_endpoint(path, merchant, affiliate, clean_buffer, django_capture_on_commit_callbacks):
    base = GOOD_TRACKING.get(path, generic_track_body)(merchant)
    judge = Judge(f"POST {path}")
    good: list[str] = []
    sender = Client()

    def send_good() -> None:
        n = len(good)
        if path == "/api/track/click":
            body = click_body(merchant, u=f"https://shop.test/good/{n}?ref=alice")
            response = sender.post(path, json.dumps(body), content_type="text/plain", **visitor())
            assert response.status_code == 200, response.content
            good.append(response.json()["referral"])
        else:
            body = {"k": merchant.public_key, "u": f"https://good-{n}.shop.test/"}
            assert sender.post(path, json.dumps(body), content_type="text/plain", **visitor()).status_code == 204
            good.append(f"good-{n}.shop.test")

    cases = body_cases(base, method="POST", path=path, content_type="text/plain;charset=UTF-8", extra=visitor)
    judge.run(cases, send_good if path in GOOD_TRACKING else None)
    judge.run(Case(f"method-{m}", m, path, encode(base), "text/plain", visitor()) for m in ("GET", "PUT", "DELETE"))
    judge.assert_clean()

    with django_capture_on_commit_callbacks(execute=True):
        flush_click_buffer_task()
    assert UnstoredClick.objects.count() == 0  # whatever was accepted could be stored
    if path == "/api/track/click":
        assert len(good) > 15
        assert set(Click.objects.filter(referral__rid__in=good).values_list("referral__rid", flat=True)) == set(good)
    elif path == "/api/track/seen":
        assert len(good) > 5
        assert set(SeenDomain.objects.filter(domain__in=good).values_list("domain", flat=True)) == set(good)


# --- Stripe's webhook ---------------------------------------------------------------------------------------------

WEBHOOK = "/stripe/webhook/"
EVENT_FIELDS = ["id", "type", "account", "created", "livemode", "data"]
OBJECT_FIELDS = ["client_reference_id", "amount_total", "payment_intent", "metadata"]


def signature(body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    """Stripe's `Stripe-Signature` over the exact bytes (which need not be UTF-8, so not the library's helper)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = (secret or settings.STRIPE_WEBHOOK_SECRET).encode()
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def good_event(merchant, rid: str) -> dict:
    """A paid checkout naming `rid`, with ids of its own (so no two cases are one event, or one payment)."""
    session = checkout_session(client_reference_id=rid)
    return make_event("checkout.session.completed", session, account=merchant.stripe_account_id)


def webhook_cases(merchant, rid: str, *, signed: bool) -> Iterator[Case]:
    def case(name: str, body: bytes, *, must_refuse: bool = False, header: str | None = None, **headers) -> Case:
        sig = header if header is not None else signature(body) if signed else ""
        extra = {"HTTP_STRIPE_SIGNATURE": sig, **headers}
        return Case(name, "POST", WEBHOOK, body, "application/json", extra, must_refuse)

    for name, body in MALFORMED:
        yield case(name, body, must_refuse=True)
    if not signed:
        body = encode(good_event(merchant, rid))
        for name, header in [
            ("no-signature", ""),
            ("garbage", "\xff\xfe\x00"),
            ("non-ascii", "t=\xe9,v1=\xff"),
            ("no-timestamp", "v1=" + "0" * 64),
            ("timestamp-of-5000-digits", "t=" + "9" * 5000 + ",v1=" + "0" * 64),
            ("wrong-secret", signature(body, secret="whsec_someone_else")),
            ("too-old", signature(body, timestamp=int(time.time()) - 3600)),
            ("huge-header", "t=1,v1=" + "a" * 100_000),
        ]:
            yield case(f"signature-{name}", body, must_refuse=True, header=header)
        return
    for name, value in VALUES:
        for key in EVENT_FIELDS:
            yield case(f"{key}={name}", encode({**good_event(merchant, rid), key: value}))
        for key in OBJECT_FIELDS:
            event = good_event(merchant, rid)
            event["data"]["object"][key] = value
            yield case(f"data.object.{key}={name}", encode(event))
    for name, body in odd_bodies(good_event(merchant, rid)):
        yield case(name, body)
    for name, headers in HEADERS:
        yield case(name, encode(good_event(merchant, rid)), **headers)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_stripe_webhook(signed, merchant, affiliate):
    rid = Referral.objects.create(merchant=merchant, affiliate=affiliate).rid
    # The hostile events' own asks for a drainer are left out (they cost a task each); each good event's drainer
    # claims every event pending before it, hostile ones included, as a drainer does in production.
    judge = Judge(f"webhook-{'signed' if signed else 'unsigned'}")
    good: list[dict] = []

    def send_good() -> None:
        event = good_event(merchant, rid)
        body = encode(event)
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = judge.client.post(WEBHOOK, body, "application/json", HTTP_STRIPE_SIGNATURE=signature(body))
        assert response.status_code == 200, response.content
        good.append(event)

    judge.run(webhook_cases(merchant, rid, signed=signed), send_good, every=5 if not signed else 10)
    send_good()  # the last drainer, for the events after the last good one
    judge.assert_clean()

    ids = [event["id"] for event in good]
    assert len(ids) > 5
    assert StripeEvent.objects.filter(stripe_id__in=ids, status=StripeEvent.Status.PROCESSED).count() == len(ids)
    intents = {event["data"]["object"]["payment_intent"] for event in good}
    assert set(Commission.objects.filter(source_id__in=intents).values_list("source_id", flat=True)) == intents
    # Nothing stored was left unprocessed behind a poisonous neighbour.
    assert not StripeEvent.objects.filter(status=StripeEvent.Status.PENDING).exists()


# --- the REST API -------------------------------------------------------------------------------------------------

SCHEMA = json.loads(Client().get("/api/v1/schema/?format=json").content)
COMPONENTS: dict = SCHEMA["components"]["schemas"]
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in sorted(SCHEMA["paths"].items())
    for method, operation in sorted(item.items())
]

# Good bodies where the schema's types alone would not make one; `example` makes the rest.
GOOD_BODIES: dict[str, Callable[[dict], dict]] = {
    "POST /api/v1/affiliates": lambda seed: {"email": "fuzz@example.com", "name": "Fuzz", "code": "fuzz"},
    "POST /api/v1/conversions": lambda seed: {
        "id": "fuzz-sale-1",
        "referral": seed["affiliate"].code,
        "amount": 4999,
        "currency": "usd",
    },
}

AUTH_CASES = [
    ("auth-missing", None),
    ("auth-non-ascii", "Bearer \xe9\xff\xfe"),
    ("auth-nul", "Bearer \x00"),
    ("auth-huge", "Bearer " + "x" * 20_000),
    ("auth-basic", "Basic \xff\xfe=="),
    ("auth-empty-bearer", "Bearer "),
]
IDEMPOTENCY_KEYS = [
    ("idempotency-non-ascii", "\xe9\xff"),
    ("idempotency-huge", "k" * 10_000),
    ("idempotency-nul", "\x00"),
]


def resolve(schema: dict) -> dict:
    return COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema


def example(schema: dict) -> object:
    """A plausible value for a schema (the first enum value, a string, the minimum), for a base body to mutate."""
    schema = resolve(schema)
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema:
            return example(schema[combined][0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: example(prop) for name, prop in schema.get("properties", {}).items()}
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    return {"boolean": True, "array": []}.get(kind, "fuzz")


def api_cases(method: str, path: str, operation: dict, seed: dict, key: str) -> Iterator[Case]:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    good_body = GOOD_BODIES.get(f"{method} {path}")
    base = good_body(seed) if good_body else example(schema) if schema else {}
    assert isinstance(base, dict)
    for name, header in AUTH_CASES:
        extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
        yield Case(name, method, path, encode(base) if schema else b"", "application/json", extra, must_refuse=True)
    if schema:
        optional = not resolve(schema).get("required")
        yield from body_cases(
            base, method=method, path=path, content_type="application/json", extra=lambda: auth, empty_is_valid=optional
        )
    if method == "POST":
        for name, value in IDEMPOTENCY_KEYS:
            yield Case(name, method, path, encode(base), "application/json", {**auth, "HTTP_IDEMPOTENCY_KEY": value})
    for param in [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]:
        for name, value in QUERY_VALUES:
            yield Case(f"?{param}={name}", method, path, extra={**auth, "QUERY_STRING": f"{param}={value}"})
        yield Case(f"?{param}-repeated", method, path, extra={**auth, "QUERY_STRING": f"{param}=a&{param}=b"})
    if method == "GET" and path.endswith("/{id}"):
        for name, value in [("nul", "%00"), ("invalid-utf8", "%ff"), ("long", "a" * 5000), ("dots", "..")]:
            yield Case(f"id-{name}", method, path.removesuffix("{id}") + value, extra=auth)


def concrete(client: Client, key: str, case: Case, ids: dict[str, str]) -> Case:
    """The case with `{id}` replaced by the id of the first object its resource's list answers (asked once)."""
    if "{id}" in case.path:
        collection = "/api/v1/" + case.path.split("/")[3]
        if collection not in ids:
            listed = client.get(collection, HTTP_AUTHORIZATION=f"Bearer {key}").json()["results"]
            ids[collection] = str(listed[0]["id"])
        case.path = case.path.replace("{id}", ids[collection])
    return case


def api_world(merchant) -> tuple[dict, str]:
    world = seed_tenant(merchant, code="maya", email="maya@example.com")
    world["webhook_endpoint"] = create_endpoint(merchant, url="https://example.com/hooks", events=["payout.paid"])
    return world, create_api_key(merchant, name="Fuzz")[1]


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_api_operation(method, path, operation, merchant, settings):
    # Hundreds of cases from one key: the per-key throttle (tested in tests/api/) must not answer them instead.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min"}}
    seed, key = api_world(merchant)
    judge = Judge(f"{method} {path}")
    good: list[str] = []

    def send_good() -> None:
        email = f"good-{len(good)}@example.com"
        body = json.dumps({"email": email})
        response = judge.client.post("/api/v1/affiliates", body, "application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 201, response.content
        good.append(email)

    cases = api_cases(method, path, operation, seed, key)
    ids: dict[str, str] = {}
    judge.run((concrete(judge.client, key, case, ids) for case in cases), send_good, every=25)
    judge.assert_clean()
    assert set(Affiliate.objects.filter(email__in=good).values_list("email", flat=True)) == set(good)
