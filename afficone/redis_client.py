"""One Redis client per process, for the hot paths that talk to Redis directly (the click buffer, the Stripe drainer
slots). Django's Redis cache builds a new client object on every call (its connection pool is shared, but the
client's setup is not; README, "Benchmarks", says what that cost the webhook); redis-py's client is thread-safe and
re-creates its connections after a fork.
"""

from __future__ import annotations

import redis
from django.conf import settings

_client: redis.Redis | None = None
_url = ""


def shared() -> redis.Redis:
    """The process's client for REDIS_URL (which must be set); a new one if the setting changed (tests do that)."""
    global _client, _url
    if _client is None or _url != settings.REDIS_URL:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _url = settings.REDIS_URL
    return _client
