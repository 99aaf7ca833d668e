"""Click capture: validating what /t.js sends, rate limiting, storing clicks and referrals.

A click is stored as a `Click` row and answered with a referral id. The id
is made here, before any row exists, so a click can be answered at once and
written later: with `TRACKING_BUFFER` on (the default where Redis is
configured) clicks go to a Redis stream and `buffer.flush` bulk-inserts
them (see tracking/buffer.py); without Redis they are written in the request.
Either way the rows are written by `store_clicks`, idempotently.
"""

import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from affiliates.models import CODE_PATTERN, REFERRAL_ID_PATTERN, Affiliate, Program, Referral, new_referral_id
from tenants.models import Merchant

from . import buffer
from .models import Click, SeenDomain

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024
MAX_URL_LENGTH = 2000
MAX_USER_AGENT_LENGTH = 500
# A merchant's installation check lists at most this many host names; more are ignored (junk from a leaked key).
MAX_SEEN_DOMAINS = 200
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CODE_RE = re.compile(CODE_PATTERN)
_REFERRAL_RE = re.compile(REFERRAL_ID_PATTERN)
_HOST_RE = re.compile(r"^[a-z0-9.:\[\]-]{1,255}$")


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
class Link:
    """What a (public key, code) pair resolves to: cached as "merchant:affiliate:days:attribution"."""

    merchant_id: int
    affiliate_id: int
    cookie_days: int
    attribution: str

    @classmethod
    def decode(cls, value: str) -> "Link":
        merchant_id, affiliate_id, cookie_days, attribution = value.split(":")
        return cls(int(merchant_id), int(affiliate_id), int(cookie_days), attribution)

    @property
    def encoded(self) -> str:
        return f"{self.merchant_id}:{self.affiliate_id}:{self.cookie_days}:{self.attribution}"


# --- input --------------------------------------------------------------------------------------------------------


def _json_object(body: bytes) -> dict:
    if len(body) > MAX_BODY_BYTES:
        raise TrackingError(413, "too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise TrackingError(400, "malformed", "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise TrackingError(400, "malformed", "The body must be a JSON object.")
    return data


def _key(data: dict) -> str:
    key = data.get("k")
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise TrackingError(400, "invalid", "`k` must be the merchant's public key.", "k")
    return key


def _page_url(value, field: str, *, required: bool) -> str:
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
    data = _json_object(body)
    code = data.get("c")
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise TrackingError(400, "invalid", "`c` must be an affiliate code: 1 to 64 letters, digits, '-' or '_'.", "c")
    current = data.get("p")
    if not isinstance(current, str) or not _REFERRAL_RE.match(current):
        current = None  # a damaged cookie must not cost the click
    return ClickInput(
        public_key=_key(data),
        code=code,
        landing_url=_page_url(data.get("u"), "u", required=True),
        referrer=_page_url(data.get("r"), "r", required=False),
        current_referral=current,
    )


def parse_seen(body: bytes) -> tuple[str, str]:
    """(public key, host name) of an installation-check beacon."""
    data = _json_object(body)
    key = _key(data)
    url = _page_url(data.get("u"), "u", required=True)
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
            salt = cache.get_or_set(f"tracking:salt:{day.isoformat()}", secrets.token_hex(16), timeout=2 * 86400)
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


def _rate_key(scope: str, public_key: str, ip_hash: str) -> str:
    # Fixed one-minute windows per (visitor, key).
    return f"afficone:tracking:rl:{scope}:{public_key}:{ip_hash}:{int(time.time() // RATE_WINDOW_SECONDS)}"


def _link_cache_key(public_key: str, code: str) -> str:
    return f"afficone:tracking:link:{public_key}:{code.lower()}"


def _count(cache_key: str) -> int:
    """Increments a rate-limit counter in Django's cache and returns it."""
    if cache.add(cache_key, 1, timeout=RATE_WINDOW_SECONDS + 30):
        return 1
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=RATE_WINDOW_SECONDS + 30)
        return 1


def _check_rate(count: int) -> None:
    if count > settings.TRACKING_RATE_LIMIT_PER_MINUTE:
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
    rate_key, link_key = _rate_key("click", click.public_key, ip_hash), _link_cache_key(click.public_key, click.code)
    entry = {
        "rid": new_referral_id(),
        "is_new_referral": True,
        "landing_url": click.landing_url,
        "referrer": click.referrer,
        "user_agent": user_agent[:MAX_USER_AGENT_LENGTH],
        "ip_hash": ip_hash,
        "created_at": now.timestamp(),
        "token": secrets.token_hex(12),
    }
    if buffer.is_enabled():
        count, cached, queued = buffer.accept(
            rate_key,
            link_key,
            entry,
            window=RATE_WINDOW_SECONDS + 30,
            limit=settings.TRACKING_RATE_LIMIT_PER_MINUTE,
            checks_referral=click.current_referral is not None,
        )
    else:
        count, cached, queued = _count(rate_key), cache.get(link_key), False
    _check_rate(count)
    link = _link(click, cached, link_key)
    if queued:
        return ClickResult(referral=entry["rid"], days=link.cookie_days, attribution=link.attribution)
    days = link.cookie_days
    if link.attribution == Program.Attribution.FIRST_CLICK and click.current_referral:
        created_at = _live_referral_created_at(link, click.current_referral, now=now)
        if created_at is not None:
            entry.update(rid=click.current_referral, is_new_referral=False)
            days = max(1, math.ceil(link.cookie_days - (now - created_at).total_seconds() / 86400))
    if buffer.is_enabled():
        buffer.push(link.encoded, entry)
    else:
        store_clicks([{**entry, "merchant_id": link.merchant_id, "affiliate_id": link.affiliate_id}])
    return ClickResult(referral=entry["rid"], days=days, attribution=link.attribution)


def _link(click: ClickInput, cached: str | None, link_key: str) -> Link:
    if cached is None:
        found = _lookup_link(click.public_key, click.code)
        cached = ":".join(str(part) for part in found) if found else ""
        if buffer.is_enabled():
            buffer.set_value(link_key, cached, LINK_CACHE_SECONDS)
        else:
            cache.set(link_key, cached, LINK_CACHE_SECONDS)
    if not cached:
        if not Merchant.objects.filter(public_key=click.public_key).exists():
            raise TrackingError(
                404, "unknown_key", "No merchant has this public key; check the data-afficone attribute.", "k"
            )
        raise TrackingError(404, "unknown_code", "No active affiliate has this code.", "c")
    return Link.decode(cached)


def check_seen_rate(public_key: str, *, ip_hash: str) -> None:
    _check_rate(_count(_rate_key("seen", public_key, ip_hash)))


def _lookup_link(public_key: str, code: str) -> tuple | None:
    approved = Affiliate.objects.filter(merchant__public_key=public_key, status=Affiliate.Status.APPROVED)
    fields = ("merchant_id", "pk", "program__cookie_days", "program__attribution")
    # Links carry the code as it was given out, which the (merchant, code) index finds; codes are unique
    # case-insensitively, so a link typed in another case still works.
    return (
        approved.filter(code=code).values_list(*fields).first()
        or approved.filter(code__iexact=code).values_list(*fields).first()
    )


# --- recording ----------------------------------------------------------------------------------------------------


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


def write_buffered_clicks(*, wait: float = 5.0) -> None:
    """Writes the clicks still waiting in the buffer, waiting up to `wait` seconds for a flush already running.

    For a payment that names a referral id the buffer may not have written
    yet (`affiliates.services.resolve_reference` calls it on a miss). Safe
    inside a transaction: entries are acknowledged only once it commits.
    """
    if buffer.is_enabled() and buffer.backlog():
        buffer.flush(wait=wait)


@transaction.atomic
def store_clicks(entries: list[dict]) -> int:
    """Writes buffered clicks and the referrals they created; returns the number of new clicks.

    Idempotency keys: `Referral.rid` and `Click.token`, both unique, so a
    batch written twice (a worker killed between insert and acknowledgement)
    adds nothing the second time.
    """
    if connection.vendor == "postgresql":
        # Durable before the entries are acknowledged in Redis, even inside a Stripe drainer's transaction, which
        # otherwise commits without waiting for the disk (stripe_integration.services.asynchronous_commits).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO ON")
    # An affiliate deleted between the click and the flush takes its clicks with it (as CASCADE would have).
    live = set(Affiliate.objects.filter(pk__in={e["affiliate_id"] for e in entries}).values_list("pk", "merchant_id"))
    entries = [e for e in entries if (e["affiliate_id"], e["merchant_id"]) in live]
    if not entries:
        return 0
    referrals = [
        Referral(
            merchant_id=e["merchant_id"],
            affiliate_id=e["affiliate_id"],
            rid=e["rid"],
        )
        for e in entries
        if e["is_new_referral"]
    ]
    Referral.objects.bulk_create(referrals, ignore_conflicts=True)
    rids = {e["rid"] for e in entries}
    referral_ids = dict(Referral.objects.filter(rid__in=rids).values_list("rid", "pk"))
    clicks = [
        Click(
            merchant_id=e["merchant_id"],
            affiliate_id=e["affiliate_id"],
            referral_id=referral_ids.get(e["rid"]),
            landing_url=e["landing_url"],
            referrer=e["referrer"],
            user_agent=e["user_agent"],
            ip_hash=e["ip_hash"],
            created_at=datetime.fromtimestamp(e["created_at"], tz=UTC),
            token=e["token"],
        )
        for e in entries
    ]
    before = Click.objects.filter(token__in=[c.token for c in clicks]).count()
    Click.objects.bulk_create(clicks, ignore_conflicts=True)
    return len(clicks) - before


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
