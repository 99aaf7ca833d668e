"""The deterministic corpus of hostile input that tests/test_fuzz.py sends to every endpoint taking outside input, and
how each case is judged.

Three kinds of input:

- MALFORMED: bodies no endpoint can read as a JSON object (not JSON, not UTF-8, nested deeper than the decoder can
  follow, a bare value where an object is expected, 1 MB of string): every endpoint that reads a body refuses them
  with a 4xx and changes nothing.
- VALUES: what may stand in a field in place of the right thing (NUL bytes, lone surrogates, wrong types, extreme
  integers, 1 MB strings, text in other scripts): each is put in each field of a good body in turn. An endpoint may
  accept some (a referrer it cannot use is dropped, an integer may be a fine name); it must never answer 5xx, and
  when it refuses, nothing changes.
- odd_bodies / HEADERS: a good body in odd clothing (a byte-order mark, UTF-16, duplicate keys, unknown keys) and
  odd headers (wrong content types, non-ASCII values, a Content-Length that lies): the same rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import DatabaseError, connection, models, transaction
from django.test import Client, TestCase

from tenants.models import ApiKey
from tracking import buffer

DEEP = 5000
MEGABYTE = "a" * (1 << 20)

MALFORMED: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("whitespace", b" \r\n\t "),
    ("nul-byte", b"\x00"),
    ("not-json", b"hello"),
    ("truncated", b'{"k": "x",'),
    ("single-quotes", b"{'k': 'x'}"),
    ("trailing-garbage", b'{"k": "x"} {"k": "y"}'),
    ("non-utf8", b'{"k": "\xff\xfe\xfd"}'),
    ("latin-1", '{"k": "café"}'.encode("latin-1")),
    ("deep-list", b"[" * DEEP + b"]" * DEEP),
    ("deep-object", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    ("deep-unclosed", b"[" * DEEP),
    ("huge-string", json.dumps(MEGABYTE).encode()),
    ("huge-integer", b"9" * 5000),
    ("huge-integer-in-list", b"[" + b"9" * 5000 + b"]"),
    ("nan", b"NaN"),
    ("infinity", b"[Infinity, -Infinity]"),
    ("list", b"[]"),
    ("list-of-object", b'[{"k": "x"}]'),
    ("string", b'"x"'),
    ("number", b"1"),
    ("null", b"null"),
    ("true", b"true"),
]


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


VALUES: list[tuple[str, object]] = [
    ("null", None),
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("minus-one", -1),
    ("float", 1.5),
    ("nan", float("nan")),
    ("int64-overflow", 2**63),
    ("int64-underflow", -(2**63) - 1),
    ("huge-int", 10**30),
    ("4000-digits", int("9" * 4000)),
    ("empty-string", ""),
    ("nul", "\x00"),
    ("nul-inside", "a\x00b"),
    ("lone-surrogate", "\ud800"),
    ("low-surrogate", "x\udfffy"),
    ("emoji", "\U0001f600"),
    ("right-to-left", "\u202eevil"),
    ("non-ascii", "Ünïcødé ñ 日本語"),
    ("control-chars", "\x01\x07\x1b[31m"),
    ("long-string", "x" * 10_000),
    ("megabyte-string", MEGABYTE),
    ("date-string", "2026-13-45T25:61:00Z"),
    ("html", "<script>alert(1)</script>"),
    ("format", "%s%n%x{0}"),
    ("empty-list", []),
    ("list", ["x", 1]),
    ("empty-object", {}),
    ("object", {"a": "b"}),
    ("nested-list", _nested(40)),
]


def encode(data: object) -> bytes:
    """JSON as a crafted request would send it: NUL and lone surrogates escaped (\\u0000, \\ud800), NaN bare."""
    return json.dumps(data).encode()


def mutations(base: dict) -> Iterator[tuple[str, bytes]]:
    """`base` with each field in turn set to each of VALUES, then left out, then an unknown field added."""
    for key in base:
        for name, value in VALUES:
            yield f"{key}={name}", encode({**base, key: value})
        yield f"{key}-missing", encode({k: v for k, v in base.items() if k != key})
    yield "unknown-field", encode({**base, "\ud800\x00": MEGABYTE[:1000]})


def odd_bodies(base: dict) -> list[tuple[str, bytes]]:
    """A good body written in odd but readable ways."""
    text = json.dumps(base)
    first = next(iter(base))
    return [
        ("byte-order-mark", b"\xef\xbb\xbf" + text.encode()),
        ("utf-16", text.encode("utf-16")),
        ("utf-32", text.encode("utf-32")),
        ("duplicate-keys", ("{" + f'"{first}": "first", ' + text[1:]).encode()),
        ("duplicate-keys-last-wins-bad", (text[:-1] + f', "{first}": ["x"]' + "}").encode()),
        ("pretty-printed", json.dumps(base, indent=4).encode()),
        ("escaped-everything", json.dumps(base, ensure_ascii=True).encode()),
        ("raw-utf8", json.dumps(base, ensure_ascii=False).encode()),
        ("extra-megabyte-field", encode({**base, "padding": MEGABYTE})),
    ]


# Header sets sent with a good body. Values of WSGI headers are latin-1 text, so non-ASCII bytes arrive as such.
CONTENT_TYPES: list[tuple[str, str]] = [
    ("no-content-type", ""),
    ("html", "text/html"),
    ("form", "application/x-www-form-urlencoded"),
    ("multipart-without-boundary", "multipart/form-data"),
    ("multipart-bad-boundary", "multipart/form-data; boundary=\xff"),
    ("json-latin-1", "application/json; charset=latin-1"),
    ("json-unknown-charset", "application/json; charset=no-such-codec"),
    ("json-utf-16", "application/json; charset=utf-16"),
    ("garbage-content-type", "\xff\xfe/\x00"),
    ("octet-stream", "application/octet-stream"),
]

HEADERS: list[tuple[str, dict[str, str]]] = [
    ("user-agent-non-ascii", {"HTTP_USER_AGENT": "Mozilla/5.0 (X11) Chrome/124.0 \xe9\xff\xfe"}),
    ("user-agent-huge", {"HTTP_USER_AGENT": "Mozilla/5.0 Chrome/124.0 " + "x" * 20_000}),
    ("referer-non-ascii", {"HTTP_REFERER": "https://\xe9\xff.example/\xfe"}),
    ("origin-garbage", {"HTTP_ORIGIN": "\xff\x00://"}),
    ("forwarded-for-garbage", {"HTTP_X_FORWARDED_FOR": "\xff, 999.999.1.1, ::::, " + "1" * 500}),
    ("content-length-text", {"CONTENT_LENGTH": "abc"}),
    ("content-length-negative", {"CONTENT_LENGTH": "-1"}),
    ("content-length-huge", {"CONTENT_LENGTH": "99999999999999999999"}),
    ("content-length-short", {"CONTENT_LENGTH": "3"}),
    ("accept-garbage", {"HTTP_ACCEPT": "\xff/\xfe;q=\x00"}),
    ("cookie-garbage", {"HTTP_COOKIE": "afficone_ref=\xff\xfe; sessionid=\x00; csrftoken=" + "x" * 5000}),
]

# Query strings for list endpoints: raw, percent-encoded as they would arrive.
QUERY_VALUES: list[tuple[str, str]] = [
    ("nul", "%00"),
    ("invalid-utf8", "%ff%fe"),
    ("encoded-surrogate", "%ed%a0%80"),
    ("huge-number", "9" * 50),
    ("negative", "-1"),
    ("zero", "0"),
    ("float", "1.5"),
    ("garbage", "%3Cscript%3E"),
    ("bad-date", "2026-13-45"),
    ("long", "x" * 5000),
    ("empty", ""),
]


# --- judging a case -----------------------------------------------------------------------------------------------

# ApiKey rows record when a key was last used, which every request does, refused or not.
MODELS = [
    model
    for label in ("tenants", "affiliates", "tracking", "stripe_integration")
    for model in apps.get_app_config(label).get_models()
    if model is not ApiKey
]


def _digest(model) -> str:
    """SQL for a digest of a table's rows: every column but the JSON and text ones (a stored event's payload may be a
    megabyte; its id, status and times change with it). Elsewhere than Postgres, the count of its rows."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    if connection.vendor != "postgresql":
        return f"(SELECT count(*) FROM {table})"
    columns = [
        f"t.{qn(f.column)}::text"
        for f in model._meta.concrete_fields
        if not isinstance(f, models.JSONField | models.TextField)
    ]
    row = "concat_ws(',', " + ", ".join(columns) + ")"
    return f"(SELECT md5(coalesce(string_agg({row}, '|' ORDER BY {row}), '')) FROM {table} t)"


def state() -> tuple:
    """Every table's rows, as `_digest` sees them, and the click buffer's backlog: one query and one Redis call."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(_digest(model) for model in MODELS))
        rows = cursor.fetchone()
    return (*rows, buffer.backlog() if buffer.is_enabled() else 0)


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"
    extra: dict = field(default_factory=dict)
    must_refuse: bool = False


class Judge:
    """Sends the cases of one surface through the whole stack (the middleware included; a view's exception answers
    500, it is not raised into the test) and collects every problem, so one run reports all of them."""

    def __init__(self, surface: str, *, run_on_commit: bool = False):
        self.client = Client(raise_request_exception=False)
        self.surface, self.run_on_commit = surface, run_on_commit
        self.problems: list[str] = []
        self.sent = 0
        self._state: tuple | None = None

    def request(self, case: Case):
        # Each request behind a savepoint: a statement that failed in one (the 500 is reported) must not poison the
        # test's transaction for the cases after it, as it would not poison the next request on a real server.
        savepoint = transaction.savepoint()
        if self.run_on_commit:
            with TestCase.captureOnCommitCallbacks(execute=True):  # what a real commit runs (the drainer, eager here)
                response = self.client.generic(case.method, case.path, case.body, case.content_type, **case.extra)
        else:
            response = self.client.generic(case.method, case.path, case.body, case.content_type, **case.extra)
        try:
            transaction.savepoint_commit(savepoint)
        except DatabaseError:
            transaction.savepoint_rollback(savepoint)
        return response

    def judge(self, case: Case) -> None:
        self.sent += 1
        label = f"{self.surface} {case.name}"
        before = self._state or state()  # what the last refused case left, when nothing ran since
        response = self.request(case)
        status = response.status_code
        self._state = state() if 400 <= status < 500 else None
        if status >= 500:
            self.problems.append(f"{label}: {status} {response.content[:200]!r}")
        elif case.must_refuse and status < 400:
            self.problems.append(f"{label}: accepted ({status}) what must be refused")
        elif self._state is not None and self._state != before:
            self.problems.append(f"{label}: refused ({status}) but rows changed")

    def run(self, cases: Iterable[Case], good: Callable[[], None] | None = None, *, every: int = 10) -> None:
        """Judges `cases`, calling `good` (which sends good input and checks it was taken) after every `every`."""
        for n, case in enumerate(cases, 1):
            self.judge(case)
            if good is not None and n % every == 0:
                good()
                self._state = None

    def assert_clean(self) -> None:
        assert self.sent, f"{self.surface}: no case sent"
        assert not self.problems, f"{len(self.problems)} of {self.sent} cases:\n" + "\n".join(self.problems)


def body_cases(
    base: dict, *, method: str, path: str, content_type: str, extra: Callable[[], dict], empty_is_valid: bool = False
) -> Iterator[Case]:
    """The corpus against one endpoint that reads a JSON body; `extra` gives each request's headers. An empty body
    is no fields at all, which an endpoint without required fields may take (a PATCH that changes nothing)."""
    for name, body in MALFORMED:
        yield Case(name, method, path, body, content_type, extra(), must_refuse=not (empty_is_valid and not body))
    for name, body in [*mutations(base), *odd_bodies(base)]:
        yield Case(name, method, path, body, content_type, extra())
    for name, other_type in CONTENT_TYPES:
        yield Case(f"content-type-{name}", method, path, encode(base), other_type, extra())
    for name, headers in HEADERS:
        yield Case(name, method, path, encode(base), content_type, {**extra(), **headers})
