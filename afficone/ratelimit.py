"""The one rate limiter: how many times a subject (a visitor, an API key, an account) did something in a window.

Each limit is a `Rule`, declared once beside what it protects:

- `tracking.services.click_rate` and `seen_rate`: tracker requests a minute per visitor address and public key;
- `api.auth.ApiKeyRateThrottle`: REST API requests per key (API_RATE_LIMIT);
- `tenants.lockout.LOGIN_LOCKOUT`: password attempts per account.

Counting is one atomic step in Redis: a script INCRs the rule's key and, on the first hit, sets its expiry, in one
round trip. Concurrent requests on any number of processes therefore each get a count of their own, and exactly
`limit` of them are allowed (a read followed by a later write let 14 of 40 simultaneous guesses through a limit of
10). The click endpoint counts inside its own script (tracking/buffer.py) with `COUNT_LUA` and the rule's
`key`/`expiry`/`limit`, so its rule is still the one declared in Python.

A window is either fixed on the clock (`fixed=True`: the key names the window, so every subject's window ends at
the same moment, which the API reports in X-RateLimit-Reset) or starts at the subject's first hit (the lockout:
ten attempts, then a wait counted from the first of them, never ten at 14:59 and ten more at 15:00).

Without REDIS_URL (the embedded default, one process) hits are counted in the process's memory. When Redis is
configured but cannot be reached, each rule fails as it says (`on_outage`), chosen for what it protects:

- OPEN: the hit is allowed and not counted. The tracker's limits and the API throttle: they shed floods, they
  guard no secret, and refusing would cost real visits (a lost referral is a lost commission) or stop every
  merchant's backend; an outage is short, and its extra load is what the same traffic costs anyway.
- LOCAL: counted in this process's memory. The login lockout: failing closed would lock everyone out of the
  dashboard and the portal for as long as Redis is down, but failing open would let a guesser try passwords
  without end. Counting per process keeps logins working and bounds the guesses at `limit` per process and window.

No rule fails closed: none guards something that must not be served without an exact count.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from afficone import redis_client

log = logging.getLogger(__name__)

KEY_PREFIX = "afficone:rl:"

# KEYS[1]: the rule's key; ARGV[1]: its expiry in seconds. Leaves the new count in `count`.
COUNT_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
"""
_HIT_LUA = COUNT_LUA + "return count\n"
_hit_script = None

# The memory counters hold at most this many subjects; past it, the expired are dropped, then (a flood of new
# subjects) all of them.
LOCAL_MAX_SUBJECTS = 100_000


class Outage(enum.Enum):
    OPEN = "open"
    LOCAL = "local"


@dataclass(frozen=True)
class Rule:
    """At most `limit` hits per subject in `window` seconds, counted under `name`."""

    name: str
    limit: int
    window: int
    on_outage: Outage
    fixed: bool = True

    def key(self, subject: str, *, now: float) -> str:
        key = f"{KEY_PREFIX}{self.name}:{subject}"
        return f"{key}:{int(now // self.window)}" if self.fixed else key

    @property
    def expiry(self) -> int:
        # A fixed window's key is made at or after the window's start, so it outlives the window by less than this.
        return self.window

    def reset_at(self, *, now: float) -> float | None:
        """When the current fixed window ends (None for windows that start at a subject's first hit)."""
        return (int(now // self.window) + 1) * self.window if self.fixed else None


@dataclass(frozen=True)
class Count:
    """A hit's outcome: the subject's count in the window including it, or None when it could not be counted."""

    rule: Rule
    count: int | None
    reset_at: float | None

    @property
    def allowed(self) -> bool:
        return self.count is None or self.count <= self.rule.limit

    @property
    def remaining(self) -> int | None:
        return None if self.count is None else max(self.rule.limit - self.count, 0)


def hit(rule: Rule, subject: str, *, now: float | None = None) -> Count:
    """Counts one hit of `subject` and says whether it is within the rule's limit."""
    global _hit_script
    now = time.time() if now is None else now
    key = rule.key(subject, now=now)
    if not settings.REDIS_URL:
        return Count(rule, _local_hit(key, rule.expiry, now), rule.reset_at(now=now))
    try:
        client = redis_client.shared()
        if _hit_script is None:
            _hit_script = client.register_script(_HIT_LUA)
        count = int(_hit_script(keys=[key], args=[rule.expiry], client=client))
    except redis.RedisError:
        return unreachable(rule, subject, now=now)
    return Count(rule, count, rule.reset_at(now=now))


def counted(rule: Rule, count: int, *, now: float) -> Count:
    """The outcome of a hit counted by another script with COUNT_LUA (tracking/buffer.py)."""
    return Count(rule, count, rule.reset_at(now=now))


def unreachable(rule: Rule, subject: str, *, now: float) -> Count:
    """A hit that Redis could not count: what the rule does during an outage (the module's docstring says why)."""
    log.warning("rate limit %s not counted in Redis (unreachable): failing %s", rule.name, rule.on_outage.value)
    if rule.on_outage is Outage.LOCAL:
        return Count(rule, _local_hit(rule.key(subject, now=now), rule.expiry, now), rule.reset_at(now=now))
    return Count(rule, None, None)


def current(rule: Rule, subject: str, *, now: float | None = None) -> int:
    """The subject's count in the window so far, without counting a hit (0 if it cannot be read)."""
    now = time.time() if now is None else now
    key = rule.key(subject, now=now)
    if not settings.REDIS_URL:
        return _local_count(key, now)
    try:
        value = redis_client.shared().get(key)
    except redis.RedisError:
        return _local_count(key, now) if rule.on_outage is Outage.LOCAL else 0
    return int(value or 0)


def clear(rule: Rule, subject: str, *, now: float | None = None) -> None:
    """Forgets the subject's hits in the current window (a login that succeeded, a password reset)."""
    now = time.time() if now is None else now
    key = rule.key(subject, now=now)
    with _local_lock:
        _local.pop(key, None)
    if settings.REDIS_URL:
        try:
            redis_client.shared().delete(key)
        except redis.RedisError:
            log.warning("rate limit %s not cleared in Redis (unreachable)", rule.name)


# --- counting in this process ---------------------------------------------------------------------------------

_local: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
_local_lock = threading.Lock()


def _local_hit(key: str, expiry: int, now: float) -> int:
    with _local_lock:
        count, expires_at = _local.get(key, (0, 0.0))
        if expires_at <= now:
            count, expires_at = 0, now + expiry
        _local[key] = (count + 1, expires_at)
        if len(_local) > LOCAL_MAX_SUBJECTS:
            for stale in [k for k, (_, at) in _local.items() if at <= now]:
                del _local[stale]
            if len(_local) > LOCAL_MAX_SUBJECTS:
                _local.clear()
        return count + 1


def _local_count(key: str, now: float) -> int:
    with _local_lock:
        count, expires_at = _local.get(key, (0, 0.0))
    return count if expires_at > now else 0
