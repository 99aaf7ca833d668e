"""Click capture: validating what /t.js sends, rate limiting, answering clicks, and finding their referrals again.

A click is stored as a `Click` row and answered with a referral id. The id
is made here, before any row exists, so a click can be answered at once and
written later: with `TRACKING_BUFFER` on (the default where Redis is
configured) clicks go to a Redis stream and `buffer.flush` bulk-inserts
them (see tracking/buffer.py); without Redis they are written in the request.
Either way the rows are written by `storage.store_clicks`, idempotently.
"""

import contextlib
import hashlib
import hmac
import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.cache import cache

from afficone import ratelimit
from afficone.jsonbody import JSONBodyError, loads
from affiliates.models import CODE_PATTERN, REFERRAL_ID_PATTERN, Affiliate, Referral, new_referral_id
from affiliates.services import referral_by_reference
from tenants.models import Merchant

from . import buffer
from .buffer import Link
from .models import SeenDomain
from .storage import store_clicks

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024
MAX_URL_LENGTH = 2000
MAX_USER_AGENT_LENGTH = 500
# A merchant's installation check lists at most this many host names; more are ignored (junk from a leaked key).
MAX_SEEN_DOMAINS = 200
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CODE_RE = re.compile(CODE_PATTERN)
REFERRAL_RE = re.compile(REFERRAL_ID_PATTERN)
_HOST_RE = re.compile(r"^[a-z0-9.:\[\]-]{1,255}$")
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


class TrackingError(Exception):
    """A click or ping that is refused; nothing is stored. `code` and `message` go into the JSON error."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(frozen=True)
class ClickInput:
    public_key: str
    code: str
    landing_url: str
    referrer: str
    current_referral: str | None


@dataclass(frozen=True)
class ClickResult:
    referral: str
    days: int
    attribution: str


@dataclass(frozen=True)
class AdoptInput:
    public_key: str
    referral: str


@dataclass(frozen=True)
class AdoptResult:
    referral: str | None
    days: float | None  # what is left of the original click's cookie


# --- input --------------------------------------------------------------------------------------------------------


def json_object(body: bytes) -> dict:
    if len(body) > MAX_BODY_BYTES:
        raise TrackingError(413, "too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = loads(body)
    except JSONBodyError:  # including nesting too deep for the decoder
        raise TrackingError(400, "malformed", "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise TrackingError(400, "malformed", "The body must be a JSON object.")
    return data


def public_key(data: dict) -> str:
    key = data.get("k")
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise TrackingError(400, "invalid", "`k` must be the merchant's public key.", "k")
    return key


def page_url(value: object, field: str, *, required: bool) -> str:
    if isinstance(value, str) and _UNSTORABLE_RE.search(value):
        # Escaped in JSON (\u0000, \ud800) these decode to text no database column takes; no browser sends them.
        raise TrackingError(400, "invalid", f"`{field}` holds a NUL or a lone surrogate.", field)
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or not value.startswith(("http://", "https://")):
        if not required:
            return ""  # a referrer we cannot use (too long, app:// schemes) does not spoil the click
        raise TrackingError(
            400, "invalid", f"`{field}` must be an http(s) URL of at most {MAX_URL_LENGTH} characters.", field
        )
    return value


def parse_click(body: bytes) -> ClickInput:
    data = json_object(body)
    code = data.get("c")
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise TrackingError(400, "invalid", "`c` must be an affiliate code: 1 to 64 letters, digits, '-' or '_'.", "c")
    current = data.get("p")
    if not isinstance(current, str) or not REFERRAL_RE.match(current):
        current = None  # a damaged cookie must not cost the click
    return ClickInput(
        public_key=public_key(data),
        code=code,
        landing_url=page_url(data.get("u"), "u", required=True),
        referrer=page_url(data.get("r"), "r", required=False),
        current_referral=current,
    )


def parse_adopt(body: bytes) -> AdoptInput:
    """A referral id that a link from another of the merchant's sites carried (data-domains)."""
    data = json_object(body)
    referral = data.get("c")
    if not isinstance(referral, str) or not REFERRAL_RE.match(referral):
        raise TrackingError(400, "invalid", "`c` must be a referral id: letters, digits, '-' or '_'.", "c")
    return AdoptInput(public_key=public_key(data), referral=referral)


def parse_seen(body: bytes) -> tuple[str, str]:
    """(public key, host name) of an installation-check beacon."""
    data = json_object(body)
    key = public_key(data)
    url = page_url(data.get("u"), "u", required=True)
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host or not _HOST_RE.match(host):
        raise TrackingError(400, "invalid", "`u` has no usable host name.", "u")
    return key, host


def client_ip(request) -> str:
    """The visitor's address: from the proxy's header when TRACKING_CLIENT_IP_HEADER names one, else the socket's.

    For a list (X-Forwarded-For) the last entry counts: it is the one our own
    proxy appended; the ones before it are whatever the client claimed.
    """
    header = settings.TRACKING_CLIENT_IP_HEADER
    value = request.META.get(header, "") if header else ""
    return value.split(",")[-1].strip() or request.META.get("REMOTE_ADDR", "")


# --- privacy: the IP is hashed with a key and a salt that changes daily -------------------------------------------

_salts: dict[date, str] = {}


def _daily_salt(day: date) -> str:
    """A random salt per UTC day, shared by all processes through the cache and forgotten after two days.

    Once it is gone, not even the holder of SECRET_KEY can tell which
    address a stored hash came from (Plausible's scheme).
    """
    salt = _salts.get(day)
    if salt is None:
        try:
            salt = str(cache.get_or_set(f"tracking:salt:{day.isoformat()}", secrets.token_hex(16), timeout=2 * 86400))
        except Exception:  # the cache is down: a salt of this process's own keeps the click (and its privacy)
            log.warning("tracking salt not shared: the cache is unreachable", exc_info=True)
            salt = secrets.token_hex(16)
        _salts.clear()
        _salts[day] = salt
    return salt


def hash_ip(ip: str, *, now: datetime) -> str:
    message = f"{_daily_salt(now.date())}|{ip}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:32]


# --- rate limiting and resolving a link ----------------------------------------------------------------------------

LINK_CACHE_SECONDS = 30
RATE_WINDOW_SECONDS = 60
# Values are Link JSON ("" for a code that resolves to nothing); "link2" because processes from before named fields
# cached another format under "link".
_LINK_CACHE_PREFIX = "afficone:tracking:link2:"


def click_rate() -> ratelimit.Rule:
    """Clicks per visitor address and public key in a minute. Fails open while Redis is unreachable: see
    afficone/ratelimit.py."""
    return ratelimit.Rule(
        "tracking-click",
        limit=settings.TRACKING_RATE_LIMIT_PER_MINUTE,
        window=RATE_WINDOW_SECONDS,
        on_outage=ratelimit.Outage.OPEN,
    )


def seen_rate() -> ratelimit.Rule:
    """Installation beacons per visitor address and public key in a minute; fails open like `click_rate`."""
    return ratelimit.Rule(
        "tracking-seen",
        limit=settings.TRACKING_RATE_LIMIT_PER_MINUTE,
        window=RATE_WINDOW_SECONDS,
        on_outage=ratelimit.Outage.OPEN,
    )


def _link_cache_key(public_key: str, code: str) -> str:
    return f"{_LINK_CACHE_PREFIX}{public_key}:{code.lower()}"


def _check_rate(hit: ratelimit.Count) -> None:
    if not hit.allowed:
        raise TrackingError(429, "rate_limited", "Too many requests from this address; try again in a minute.")


def accept_click(click: ClickInput, *, user_agent: str, ip_hash: str, now: datetime) -> ClickResult:
    """Rate-limits a click, checks its code, answers it with a referral id and has it stored.

    Unknown keys, unknown codes, other merchants' codes and affiliates that
    are not approved are all refused the same way (404), so the endpoint
    reveals nothing about anybody's affiliates. What a code resolves to is
    cached for LINK_CACHE_SECONDS: a suspended affiliate's links stop counting
    within that time.

    Last click (the default): every click gets a new referral, which
    replaces the visitor's cookie. First click: a referral the visitor
    already holds at this merchant, still within the cookie window, is kept
    with its original expiry.

    With the buffer, the common case (a cached code, no referral to check)
    costs one round trip to Redis: counter, cache and stream in one script.
    """
    rule, subject = click_rate(), f"{click.public_key}:{ip_hash}"
    link_key = _link_cache_key(click.public_key, click.code)
    entry: dict[str, Any] = {
        "rid": new_referral_id(),
        "is_new_referral": True,
        "landing_url": click.landing_url,
        "referrer": click.referrer,
        "user_agent": _UNSTORABLE_RE.sub("", user_agent)[:MAX_USER_AGENT_LENGTH],
        "ip_hash": ip_hash,
        "created_at": now.timestamp(),
        "token": secrets.token_hex(12),
    }
    if buffer.is_enabled():
        accepted = buffer.accept(
            rule, subject, link_key, entry, checks_referral=click.current_referral is not None, now=now.timestamp()
        )
        if accepted.count is None:
            hit = ratelimit.unreachable(rule, subject, now=now.timestamp())
        else:
            hit = ratelimit.counted(rule, accepted.count, now=now.timestamp())
        cached, queued = accepted.link, accepted.queued
    else:
        hit, cached, queued = ratelimit.hit(rule, subject, now=now.timestamp()), _cached_link(link_key), False
    _check_rate(hit)
    link = _link(click, cached, link_key)
    if queued:
        return ClickResult(referral=entry["rid"], days=link.cookie_days, attribution=link.attribution)
    days = link.cookie_days
    if link.is_first_click and click.current_referral:
        created_at = _live_referral_created_at(link, click.current_referral, now=now)
        if created_at is not None:
            entry.update(rid=click.current_referral, is_new_referral=False)
            days = max(1, math.ceil(link.cookie_days - (now - created_at).total_seconds() / 86400))
    if buffer.is_enabled():
        buffer.push(link, entry)
    else:
        store_clicks([buffer.with_link(link, entry)])
    return ClickResult(referral=entry["rid"], days=days, attribution=link.attribution)


def _cached_link(key: str) -> str | None:
    """The link cached without the buffer, in Django's cache; None (look it up) when the cache is unreachable."""
    try:
        return cache.get(key)
    except redis.RedisError:
        return None


def _link(click: ClickInput, cached: str | None, link_key: str) -> Link:
    if cached is None:
        found = _lookup_link(click.public_key, click.code)
        cached = found.to_json() if found else ""
        if buffer.is_enabled():
            buffer.set_value(link_key, cached, LINK_CACHE_SECONDS)
        else:
            with contextlib.suppress(redis.RedisError):
                cache.set(link_key, cached, LINK_CACHE_SECONDS)
    if not cached:
        if not Merchant.objects.filter(public_key=click.public_key).exists():
            raise TrackingError(
                404, "unknown_key", "No merchant has this public key; check the data-afficone attribute.", "k"
            )
        raise TrackingError(404, "unknown_code", "No active affiliate has this code.", "c")
    return Link.from_json(cached)


def adopt_referral(adopt: AdoptInput, *, ip_hash: str, now: datetime) -> AdoptResult:
    """The referral a visitor brings from another of the merchant's sites, with the days left of its cookie there.

    Nothing is written: the visit is not a new click, and the cookie on this site ends when the first site's does
    (a referral past its program's cookie days, unknown, or another merchant's answers null, all alike). Counted
    against the same per-visitor limit as clicks. A referral id answered moments ago may still be in the click
    buffer, which is written first on a miss (as `resolve_reference` does).
    """
    _check_rate(ratelimit.hit(click_rate(), f"{adopt.public_key}:{ip_hash}", now=now.timestamp()))
    merchant_id = Merchant.objects.filter(public_key=adopt.public_key).values_list("pk", flat=True).first()
    if merchant_id is None:
        raise TrackingError(
            404, "unknown_key", "No merchant has this public key; check the data-afficone attribute.", "k"
        )
    found = _referral_age(merchant_id, adopt.referral)
    if found is None and buffer.is_enabled() and buffer.backlog():
        buffer.flush(wait=5.0)
        found = _referral_age(merchant_id, adopt.referral)
    if found is None:
        return AdoptResult(referral=None, days=None)
    created_at, cookie_days = found
    days_left = cookie_days - (now - created_at).total_seconds() / 86400
    if days_left <= 0:
        return AdoptResult(referral=None, days=None)
    return AdoptResult(referral=adopt.referral, days=round(days_left, 4))


def _referral_age(merchant_id: int, rid: str) -> tuple[datetime, int] | None:
    return (
        Referral.objects.for_merchant(merchant_id)
        .filter(rid=rid)
        .values_list("created_at", "affiliate__program__cookie_days")
        .first()
    )


def check_seen_rate(public_key: str, *, ip_hash: str) -> None:
    _check_rate(ratelimit.hit(seen_rate(), f"{public_key}:{ip_hash}"))


def _lookup_link(public_key: str, code: str) -> Link | None:
    approved = Affiliate.objects.filter(merchant__public_key=public_key, status=Affiliate.Status.APPROVED)
    fields = ("merchant_id", "pk", "program__cookie_days", "program__attribution")
    # Links carry the code as it was given out, which the (merchant, code) index finds; codes are unique
    # case-insensitively, so a link typed in another case still works.
    found = (
        approved.filter(code=code).values_list(*fields).first()
        or approved.filter(code__iexact=code).values_list(*fields).first()
        # A code its links had on the platform the merchant came from (affiliates/importers/), kept lower-case.
        or approved.filter(legacy_codes__code=code.lower()).values_list(*fields).first()
    )
    return Link(*found) if found else None


# --- referrals -------------------------------------------------------------------------------------------------


def _live_referral_created_at(link: Link, rid: str, *, now: datetime) -> datetime | None:
    since = now - timedelta(days=link.cookie_days)
    created_at = (
        Referral.objects.for_merchant(link.merchant_id)
        .filter(rid=rid, created_at__gte=since)
        .values_list("created_at", flat=True)
        .first()
    )
    if created_at is None:
        created_at = buffer.pending_referral_created_at(link.merchant_id, rid)
        if created_at is not None and created_at < since:
            created_at = None
    return created_at


def resolve_reference(
    merchant: Merchant, reference: str | None, *, source: str = Referral.Source.CLICK
) -> Referral | None:
    """The referral named by `reference`, a referral id or an affiliate's code, for a payment that names it.

    A code (say, from a coupon the merchant's backend knows) gets a fresh
    referral for that affiliate, of `source`. Scoped to `merchant`: another tenant's ids
    resolve to None. A referral id answered moments ago may still be in the
    click buffer: on a miss the buffer is written first, waiting up to five
    seconds for a flush already running. Safe inside a transaction: the
    buffered entries are acknowledged only once it commits.
    """
    referral = referral_by_reference(merchant, reference, source=source)
    if referral is None and buffer.is_enabled() and buffer.backlog():
        buffer.flush(wait=5.0)
        referral = referral_by_reference(merchant, reference, source=source)
    return referral


def record_seen_domain(public_key: str, host: str, *, now: datetime) -> None:
    """The installation check: remembers that the script ran on `host` (at most MAX_SEEN_DOMAINS per merchant)."""
    merchant_id = Merchant.objects.filter(public_key=public_key).values_list("pk", flat=True).first()
    if merchant_id is None:
        raise TrackingError(
            404, "unknown_key", "No merchant has this public key; check the data-afficone attribute.", "k"
        )
    seen = SeenDomain.objects.for_merchant(merchant_id)
    if seen.filter(domain=host).update(last_seen_at=now):
        return
    if seen.count() >= MAX_SEEN_DOMAINS:
        return
    SeenDomain.objects.bulk_create(
        [SeenDomain(merchant_id=merchant_id, domain=host, first_seen_at=now, last_seen_at=now)],
        update_conflicts=True,
        unique_fields=["merchant", "domain"],
        update_fields=["last_seen_at"],
    )
