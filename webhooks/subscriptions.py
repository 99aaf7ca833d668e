"""Which event types each merchant's enabled endpoints take, kept in the cache (Redis in production).

Forgotten on every change to a merchant's endpoints (webhooks/services.py, webhooks/receivers.py, an endpoint
disabled by webhooks/delivery.py), so the attribution path pays no query for a merchant without endpoints
(webhooks/events.py reads it before anything else).
"""

import logging
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction

from .models import WebhookEndpoint

log = logging.getLogger(__name__)

# Forgotten on every change to a merchant's endpoints (webhooks/services.py); the timeout only bounds how long a
# read racing with such a change can keep the old answer.
TYPES_KEY = "webhooks:types:{}"
TYPES_SECONDS = 60


def forget_subscriptions(merchant_id: int) -> None:
    """After a change to the merchant's endpoints: now, and again once it commits (a read in between stays out)."""

    def forget() -> None:
        try:
            cache.delete(TYPES_KEY.format(merchant_id))
        except Exception:  # the cache is down: nothing is kept in it either
            log.warning("webhook subscriptions not forgotten: the cache is unreachable", exc_info=True)

    forget()
    transaction.on_commit(forget)


def subscribed_types(merchant_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The event types the merchants' enabled endpoints are subscribed to: from the cache, else one query."""
    keys = {TYPES_KEY.format(merchant_id): merchant_id for merchant_id in merchant_ids}
    try:
        cached = cache.get_many(list(keys))
    except Exception:
        cached = {}
    types = {keys[key]: frozenset(value) for key, value in cached.items()}
    missing = [merchant_id for merchant_id in keys.values() if merchant_id not in types]
    if missing:
        found: dict[int, set[str]] = {merchant_id: set() for merchant_id in missing}
        for merchant_id, events in WebhookEndpoint.objects.filter(
            merchant_id__in=missing, status=WebhookEndpoint.Status.ENABLED
        ).values_list("merchant_id", "events"):
            found[merchant_id].update(events)
        for merchant_id, events in found.items():
            types[merchant_id] = frozenset(events)
        try:
            cache.set_many({TYPES_KEY.format(m): sorted(e) for m, e in found.items()}, TYPES_SECONDS)
        except Exception:
            log.warning("webhook subscriptions not cached: the cache is unreachable", exc_info=True)
    return types
