"""Writing clicks to the database: the rows behind every click, buffered (tracking/buffer.py) or not.

A click is an entry: a dict of the Click row's values plus the referral it names (`rid`, and `is_new_referral`
when the click made it). `store_clicks` writes a batch of them in a few statements, idempotently, and no entry can
keep the others out: one the database refuses is parked as an UnstoredClick and the rest are stored.
"""

import json
import logging
from datetime import UTC, datetime

from django.db import DatabaseError, transaction

from afficone import rawsql
from affiliates.models import Affiliate, Referral
from affiliates.signals import referral_created, send_on_commit

from .models import Click, UnstoredClick

log = logging.getLogger(__name__)


@transaction.atomic
def store_clicks(entries: list[dict]) -> int:
    """Writes clicks and the referrals they created; returns the number of new clicks.

    Idempotency keys: `Referral.rid` and `Click.token`, both unique, so a
    batch written twice (a worker killed between insert and acknowledgement)
    adds nothing the second time. An entry the database refuses is parked
    (`park_entry`) in the same transaction, so it is taken off the buffer
    with the rest and not tried again.
    """
    # Durable before the entries are acknowledged in Redis, even inside a Stripe drainer's transaction, which
    # otherwise commits without waiting for the disk.
    rawsql.commit_synchronously()
    # An affiliate deleted between the click and the flush takes its clicks with it (as CASCADE would have).
    pairs = {(e.get("affiliate_id"), e.get("merchant_id")) for e in entries}
    live = set(
        Affiliate.objects.filter(pk__in={a for a, _ in pairs if isinstance(a, int)}).values_list("pk", "merchant_id")
    )
    return _insert_isolating([e for e in entries if (e.get("affiliate_id"), e.get("merchant_id")) in live])


def _insert_isolating(entries: list[dict]) -> int:
    """Inserts the entries in one go; if the database refuses the batch, each half on its own, down to the single
    entries it refuses, which are parked. A good batch costs one savepoint more than a plain insert."""
    if not entries:
        return 0
    try:
        with transaction.atomic():
            return _insert(entries)
    except (DatabaseError, ValueError, KeyError, TypeError) as exc:  # UnicodeEncodeError is a ValueError
        if len(entries) == 1:
            park_entry(entries[0], error=exc, merchant_id=entries[0]["merchant_id"])
            return 0
        middle = len(entries) // 2
        return _insert_isolating(entries[:middle]) + _insert_isolating(entries[middle:])


def _insert(entries: list[dict]) -> int:
    referrals = [
        Referral(merchant_id=e["merchant_id"], affiliate_id=e["affiliate_id"], rid=e["rid"])
        for e in entries
        if e["is_new_referral"]
    ]
    Referral.objects.bulk_create(referrals, ignore_conflicts=True)
    referral_ids = dict(Referral.objects.filter(rid__in={e["rid"] for e in entries}).values_list("rid", "pk"))
    # A batch written again (see store_clicks) names its referrals again; receivers know what they have seen.
    created = {
        referral_ids[e["rid"]]: e["merchant_id"] for e in entries if e["is_new_referral"] and e["rid"] in referral_ids
    }
    send_on_commit(referral_created, Referral, [(merchant_id, pk) for pk, merchant_id in created.items()])
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


def park_entry(entry: object, *, error: Exception, merchant_id: int | None = None) -> None:
    """Keeps an entry that cannot be stored where the settings page and the admin show it, and logs it."""
    text = json.dumps(entry, default=repr)  # ASCII only: NULs and lone surrogates come out escaped
    reason = f"{type(error).__name__}: {error}".encode("unicode_escape").decode("ascii")
    log.error("click not stored (%s): %s", reason, text)
    UnstoredClick.objects.create(merchant_id=merchant_id, entry=text, error=reason)
