"""Drainer slots: at most STRIPE_EVENT_DRAINERS drainers at once, and a dead drainer's slot free within seconds.

A slot is a Redis key (the Django cache's key, set through the process's shared Redis client; without Redis, the
Django cache itself) whose value is a token naming one drainer's hold, with a short TTL. The asker takes a free slot
with a fresh token and passes both to the drainer task (drainers.py); while the drainer runs, a thread renews the TTL
every HEARTBEAT seconds, checking the token, so however long one event takes the slot stays held, and a drainer
killed with its worker (kill -9, OOM, a host lost) leaves a slot that is free again SLOT_TTL seconds after its last
heartbeat, rather than after the minute the TTL had to cover a chunk of events before. Every change checks the token
first (one Lua script each), so a drainer never renews or frees a slot that expired under it and was taken by another:
it finds out, and leaves the events to that one.

A slot holding 1 (no token) was taken by the asker of a message queued by an earlier version, which passed no token:
its drainer adopts it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from types import TracebackType

import redis
from django.conf import settings
from django.core.cache import cache
from redis.commands.core import Script

from afficone import redis_client

log = logging.getLogger(__name__)

SLOT_KEY = "afficone:stripe:drainer:{}"
# A slot whose drainer stopped renewing it (killed) is free this many seconds after its last heartbeat.
SLOT_TTL = 5
HEARTBEAT = 1.0
# What an earlier version's asker set (no token).
UNNAMED = 1

# The first free slot, taken with the token in ARGV[2], in one round trip (a busy webhook finds them all taken: one
# call, not one per slot); -1 when none is free.
TAKE_FREE = """
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[2], 'NX', 'EX', ARGV[1]) then return i - 1 end
end
return -1
"""
# The slot, for the token in ARGV[1], when it is free, already the token's, or held by ARGV[3] (UNNAMED, for a
# message that came without a token; otherwise the token again).
ADOPT = """
local held = redis.call('GET', KEYS[1])
if (not held) or held == ARGV[1] or held == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
FREE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_scripts: dict[str, Script] = {}


def _run(source: str, keys: list[str], args: list[int | str]) -> int:
    client = redis_client.shared()
    script = _scripts.get(source)
    if script is None or script.registered_client is not client:
        script = _scripts[source] = client.register_script(source)
    return int(script(keys=keys, args=args))


def _key(slot: int) -> str:
    return cache.make_key(SLOT_KEY.format(slot))


def new_token() -> int:
    """A token naming one hold (an integer, as the cache reads it back; never UNNAMED)."""
    return secrets.randbits(62) + 2


def take_free(token: int) -> int | None:
    """The first free slot, now held with `token`; None when every slot is taken. Raises RedisError."""
    slots = range(max(1, settings.STRIPE_EVENT_DRAINERS))
    if not settings.REDIS_URL:
        return next((slot for slot in slots if cache.add(SLOT_KEY.format(slot), token, SLOT_TTL)), None)
    slot = _run(TAKE_FREE, [_key(slot) for slot in slots], [SLOT_TTL, token])
    return None if slot < 0 else slot


def adopt(slot: int, token: int | None) -> int | None:
    """The drainer started for `slot` takes it: with the asker's `token`, or a fresh one for a message that came
    without (an earlier version's). Returns the token it holds the slot with; None when another drainer holds it
    (that one drains what is pending) or Redis cannot be reached."""
    unnamed = token is None
    held_with = new_token() if token is None else token
    try:
        if not settings.REDIS_URL:
            held = cache.get(SLOT_KEY.format(slot))
            if held is not None and held != held_with and not (unnamed and held == UNNAMED):
                return None
            cache.set(SLOT_KEY.format(slot), held_with, SLOT_TTL)
            return held_with
        other = UNNAMED if unnamed else held_with
        return held_with if _run(ADOPT, [_key(slot)], [held_with, SLOT_TTL, other]) else None
    except redis.RedisError:
        log.warning("Redis unreachable: drainer slot %s not taken", slot, exc_info=True)
        return None


def take(slot: int, token: int) -> bool:
    """Takes `slot` with `token` if it is free."""
    try:
        if settings.REDIS_URL:
            return bool(redis_client.shared().set(_key(slot), token, nx=True, ex=SLOT_TTL))
        return cache.add(SLOT_KEY.format(slot), token, SLOT_TTL)
    except redis.RedisError:  # taken, as far as anyone can tell: the sweep carries on
        log.warning("Redis unreachable: drainer slot %s not taken", slot, exc_info=True)
        return False


def renew(slot: int, token: int) -> bool:
    """Another SLOT_TTL for `slot`, if `token` still holds it; False if not (or Redis cannot be reached)."""
    try:
        if settings.REDIS_URL:
            return bool(_run(RENEW, [_key(slot)], [token, SLOT_TTL]))
        return cache.get(SLOT_KEY.format(slot)) == token and cache.touch(SLOT_KEY.format(slot), SLOT_TTL)
    except redis.RedisError:
        log.warning("Redis unreachable: drainer slot %s not renewed", slot, exc_info=True)
        return False


def free(slot: int, token: int) -> None:
    """Frees `slot` if `token` holds it."""
    try:
        if settings.REDIS_URL:
            _run(FREE, [_key(slot)], [token])
        elif cache.get(SLOT_KEY.format(slot)) == token:
            cache.delete(SLOT_KEY.format(slot))
    except redis.RedisError:  # the slot frees itself after SLOT_TTL
        log.warning("Redis unreachable: drainer slot %s left to expire", slot, exc_info=True)


def seconds_until_one_frees() -> float | None:
    """How long until the first held slot expires (every slot is taken); None without Redis or when one is free."""
    if not settings.REDIS_URL:
        return None
    client = redis_client.shared()
    ttls = [client.pttl(_key(slot)) for slot in range(max(1, settings.STRIPE_EVENT_DRAINERS))]
    if any(ttl < 0 for ttl in ttls):  # -2: no such key (free), -1: no TTL (not a slot this code set)
        return None
    return min(ttls) / 1000


class Holding:
    """A drainer's hold on its slot, renewed by a thread every HEARTBEAT seconds while held.

    The thread's renewals and the drainer's frees and takes run under one lock, so a renewal never lands between a
    free and the take that follows it. `lost` says the slot expired under the drainer (the heartbeat could not renew
    it: Redis was unreachable for longer than SLOT_TTL, or the process stalled that long) and may belong to another.
    """

    def __init__(self, slot: int, token: int):
        self.slot = slot
        self.token = token
        self.held = True
        self.lost = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"stripe-drainer-slot-{slot}", daemon=True)

    def __enter__(self) -> Holding:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.free()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            with self._lock:
                if self.held and not renew(self.slot, self.token):
                    self.held, self.lost = False, True

    def free(self) -> None:
        with self._lock:
            if self.held:
                free(self.slot, self.token)
                self.held = False

    def retake(self) -> bool:
        """Holds the slot again if it is free (or still this drainer's)."""
        with self._lock:
            if self.held or take(self.slot, self.token) or renew(self.slot, self.token):
                self.held, self.lost = True, False
            return self.held

    def hand_over(self) -> None:
        """A fresh task goes on with this slot and token: this drainer stops holding it without freeing it."""
        with self._lock:
            self.held = False
