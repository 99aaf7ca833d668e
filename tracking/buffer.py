"""The click buffer: a Redis stream that the click endpoint appends to and a periodic task drains.

Why: one synchronous INSERT per click costs most of a web worker's time
(bench/tracking_click.py measures it); an XADD costs a fraction. The
referral id is made before any row exists, so the visitor gets it at once.

Nothing is lost when a worker dies: entries are read through a consumer
group and acknowledged (and deleted) only after `store_clicks` has
committed them; entries left pending by a dead reader are claimed again after
CLAIM_IDLE_MS. Writing a batch twice adds nothing (unique `Click.token` and
`Referral.rid`). An entry that cannot be stored is parked
(tracking/storage.py) and acknowledged with the rest, so it cannot hold up
the ones after it. If Redis cannot be reached the click is written directly.
"""

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from afficone import ratelimit, redis_client
from affiliates.models import Program

from .storage import park_entry, store_clicks

log = logging.getLogger(__name__)

STREAM = "afficone:tracking:clicks"
GROUP = "store"
CONSUMER = "flusher"
LOCK = "afficone:tracking:flush-lock"
PENDING_RID = "afficone:tracking:rid:"
BATCH = 1000
CLAIM_IDLE_MS = 60_000
# How long a not-yet-written referral id is remembered for first-click programs; flushes run every few seconds.
PENDING_RID_SECONDS = 600


@dataclass(frozen=True)
class Link:
    """What a (public key, code) pair resolves to. Cached, and carried by each buffered click, as JSON with these
    names as keys, which the accept script below reads by name too."""

    merchant_id: int
    affiliate_id: int
    cookie_days: int
    attribution: str

    @classmethod
    def from_json(cls, value: str | bytes) -> "Link":
        return cls(**json.loads(value))

    def to_json(self) -> str:
        return _dumps(asdict(self))

    @property
    def is_first_click(self) -> bool:
        return self.attribution == Program.Attribution.FIRST_CLICK


def is_enabled() -> bool:
    return bool(settings.TRACKING_BUFFER and settings.REDIS_URL)


def client() -> redis.Redis:
    return redis_client.shared()


# One round trip for the common click: count it, read the cached link, and if the code is good and nothing
# needs the database (a referral to check for a first-click program), append the click to the stream.
# KEYS: rate counter, cached link, stream, pending-referral marker.
# ARGV: the rate rule's expiry and limit, click entry (JSON), "1" when the click names a referral, the referral's
# created_at and the marker's lifetime. The marker is JSON with named fields, as `pending_marker` writes it.
# Returns {count, cached link or false, 1 when appended}.
_ACCEPT = (
    ratelimit.COUNT_LUA
    + """
if count > tonumber(ARGV[2]) then return {count, false, 0} end
local link = redis.call('GET', KEYS[2])
if not link or link == '' then return {count, link or false, 0} end
local fields = cjson.decode(link)
local first_click = fields['attribution'] == 'first_click'
if first_click and ARGV[4] == '1' then return {count, link, 0} end
redis.call('XADD', KEYS[3], '*', 'link', link, 'e', ARGV[3])
if first_click then
  redis.call('SET', KEYS[4], cjson.encode({merchant_id = fields['merchant_id'], created_at = ARGV[5]}), 'EX', ARGV[6])
end
return {count, link, 1}
"""
)
_accept_script: Any = None


@dataclass(frozen=True)
class Accepted:
    """What the accept script found: the rate count (None when Redis could not be reached), the cached link ("" for a
    code cached as unknown, None when not cached) and whether the click is already in the stream."""

    count: int | None
    link: str | None
    queued: bool


def accept(
    rule: ratelimit.Rule, subject: str, link_key: str, entry: dict, *, checks_referral: bool, now: float
) -> Accepted:
    """Counts the click under `rule` and, when its code is cached and no referral needs checking, buffers it."""
    global _accept_script
    if _accept_script is None:
        _accept_script = client().register_script(_ACCEPT)
    keys = [rule.key(subject, now=now), link_key, STREAM, PENDING_RID + entry["rid"]]
    args = [
        rule.expiry,
        rule.limit,
        _dumps(entry),
        "1" if checks_referral else "0",
        entry["created_at"],
        PENDING_RID_SECONDS,
    ]
    try:
        count, link, queued = _accept_script(keys=keys, args=args, client=client())
    except redis.RedisError:
        log.warning("Redis unreachable: clicks are neither rate-limited nor buffered", exc_info=True)
        return Accepted(None, None, False)
    return Accepted(int(count), link.decode() if link is not None else None, bool(queued))


def push(link: Link, entry: dict) -> None:
    """Appends a click resolved to `link`; writes it at once when Redis is unreachable."""
    pipe = client().pipeline(transaction=False)
    pipe.xadd(STREAM, {"link": link.to_json(), "e": _dumps(entry)})
    if link.is_first_click and entry["is_new_referral"]:
        # First-click programs look the visitor's referral up on the next click, which may come before the flush.
        pipe.set(
            PENDING_RID + entry["rid"], pending_marker(link.merchant_id, entry["created_at"]), ex=PENDING_RID_SECONDS
        )
    try:
        pipe.execute()
    except redis.RedisError:
        log.warning("click buffer unavailable, writing the click directly", exc_info=True)
        store_clicks([with_link(link, entry)])


def with_link(link: Link, entry: dict) -> dict:
    """The entry as `store_clicks` takes it: with its merchant and affiliate."""
    return {**entry, "merchant_id": link.merchant_id, "affiliate_id": link.affiliate_id}


def pending_marker(merchant_id: int, created_at: str) -> str:
    """The pending-referral marker: JSON naming the referral's merchant and when it was made (a Unix time as text, as
    the click entry carries it). The accept script above writes the same object with cjson."""
    return _dumps({"merchant_id": merchant_id, "created_at": created_at})


def _dumps(entry: dict) -> str:
    return json.dumps(entry, separators=(",", ":"))


def set_value(key: str, value: str, seconds: int) -> None:
    with contextlib.suppress(redis.RedisError):
        client().set(key, value, ex=seconds)


def pending_referral_created_at(merchant_id: int, rid: str) -> datetime | None:
    """When a referral still waiting in the buffer was made, if it belongs to `merchant_id`."""
    if not is_enabled():
        return None
    try:
        value = client().get(PENDING_RID + rid)
    except redis.RedisError:
        return None
    if not value:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    if text.startswith("{"):
        marker = json.loads(text)
        owner, created = marker["merchant_id"], marker["created_at"]
    else:
        # "merchant_id:created_at", written by the release before markers were named fields. Markers live
        # PENDING_RID_SECONDS, so this branch can go once that release has been replaced for that long.
        packed_owner, _, created = text.partition(":")
        owner = int(packed_owner)
    if int(owner) != merchant_id:
        return None
    return datetime.fromtimestamp(float(created), tz=UTC)


def _ensure_group(r: redis.Redis) -> None:
    try:
        r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _entry(fields: dict[bytes, bytes]) -> dict:
    """The stored form of a stream entry's fields."""
    if b"link" in fields:
        link = Link.from_json(fields[b"link"])
    else:
        # "merchant:affiliate:days:attribution" under "l", written by the release before links were named fields.
        # Entries stay in the stream only until a flush writes them (every few seconds), so this branch can go once
        # that release has been replaced and one flush has run since.
        merchant_id, affiliate_id, days, attribution = fields[b"l"].decode().split(":")
        link = Link(int(merchant_id), int(affiliate_id), int(days), attribution)
    return with_link(link, json.loads(fields[b"e"]))


def _store(r: redis.Redis, messages: list) -> int:
    if not messages:
        return 0
    ids, entries = [], []
    for message_id, fields in messages:
        ids.append(message_id)
        try:
            entries.append(_entry(fields))
        except (KeyError, TypeError, ValueError) as exc:
            # Only this module writes the stream; an entry it cannot read must not block the ones after it.
            park_entry({k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}, error=exc)
    stored = store_clicks(entries)

    def acknowledge():
        pipe = r.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, *ids)
        pipe.xdel(STREAM, *ids)
        pipe.execute()

    # Only once the rows are committed: called inside a caller's transaction, a rollback leaves the entries
    # pending, to be claimed again.
    transaction.on_commit(acknowledge)
    return stored


def flush(*, max_seconds: float = 30.0, claim_idle_ms: int = CLAIM_IDLE_MS, wait: float = 0) -> int:
    """Writes buffered clicks to the database; returns how many new clicks were stored.

    One flush at a time (a lock with a timeout, so a killed flusher does not
    block the next); it first takes back entries another reader left
    unacknowledged, then reads new ones until the stream is empty or
    `max_seconds` have passed. With `wait`, a caller that needs every click
    made so far in the database (say, a payment naming a referral id not yet
    written) waits up to that many seconds for a running flush instead of
    returning at once.
    """
    r = client()
    deadline = time.monotonic() + wait
    while not r.set(LOCK, "1", nx=True, ex=int(max_seconds) + 30):
        if time.monotonic() >= deadline:
            return 0
        time.sleep(0.05)
    try:
        _ensure_group(r)
        stored = 0
        start_id = "0-0"
        while True:  # entries a dead reader left pending
            start_id, claimed, *_ = r.xautoclaim(STREAM, GROUP, CONSUMER, claim_idle_ms, start_id, count=BATCH)
            stored += _store(r, claimed)
            if start_id in (b"0-0", "0-0"):
                break
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            response: Any = r.xreadgroup(GROUP, CONSUMER, {STREAM: ">"}, count=BATCH)
            messages = response[0][1] if response else []
            if not messages:
                break
            stored += _store(r, messages)
        return stored
    finally:
        r.delete(LOCK)


def backlog() -> int:
    """Clicks waiting to be written (for monitoring and the bench)."""
    try:
        return client().xlen(STREAM)
    except redis.RedisError:
        return 0
