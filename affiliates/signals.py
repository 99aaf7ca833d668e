"""What the domain tells the layers above it, once a change has committed.

A leaf module: it imports only Django, so any app may send these and the
layers above affiliates (webhooks/, which renders the REST API's
representation and notifies the merchant's systems) receive them without the
domain importing upward.

Every signal is sent with `sender` (the model class) and `objects`: a dict of
merchant id → primary keys of the rows concerned. Receivers read the rows
themselves, so what they see is the committed state. `send_on_commit` is the
one way to send them: after the transaction commits (at once outside one),
never when it rolls back, and a failing receiver is logged rather than raised
into a request whose work is already saved.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal

affiliate_created = Signal()
affiliate_updated = Signal()
referral_created = Signal()
lead_created = Signal()
commission_created = Signal()
# Status, amounts, hold or payout changed. Sent after every service that may change them: receivers compare.
commission_updated = Signal()
payout_created = Signal()
payout_paid = Signal()

log = logging.getLogger(__name__)


def send_on_commit(signal: Signal, sender: type[models.Model], rows: Iterable[tuple[int, int]]) -> None:
    """Sends `signal` for `rows` ((merchant id, pk) pairs) once the current transaction commits."""
    objects: dict[int, list[int]] = {}
    for merchant_id, pk in rows:
        objects.setdefault(merchant_id, []).append(pk)
    if objects:
        transaction.on_commit(lambda: _send(signal, sender, objects))


def _send(signal: Signal, sender: type[models.Model], objects: dict[int, list[int]]) -> None:
    """Every receiver gets it, whatever another one raised (each failure is logged)."""
    for receiver, result in signal.send_robust(sender=sender, objects=objects):
        if isinstance(result, Exception):
            log.error("receiver %r of a domain signal failed", receiver, exc_info=result)


def send_for(signal: Signal, instance: Any) -> None:
    """`send_on_commit` for one tenant-owned row (a model instance with `merchant_id`)."""
    send_on_commit(signal, type(instance), [(instance.merchant_id, instance.pk)])
