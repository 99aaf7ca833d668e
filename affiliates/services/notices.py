"""New-commission emails: one task per commission, or one per batch inside `batched_commission_notices`.

Shared by the commissions and the bonuses (services/commissions.py, services/tiers.py)."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from afficone import enqueue

from ..email_tasks import notify_new_commissions_task

_notice_batch: ContextVar[list[int] | None] = ContextVar("afficone_commission_notices", default=None)


def commission_recorded(commission_id: int) -> None:
    """Tells the affiliate of a new commission (an email task), once its transaction has committed."""
    batch = _notice_batch.get()
    if batch is None:
        enqueue.send(notify_new_commissions_task, [commission_id])
    else:
        batch.append(commission_id)


@contextmanager
def batched_commission_notices() -> Iterator[None]:
    """Collects the new-commission emails of everything recorded inside it into one task, sent at the end: the
    Stripe event drainers record many commissions in a row, and an enqueue costs about as much as recording one."""
    batch: list[int] = []
    token = _notice_batch.set(batch)
    try:
        yield
    finally:
        _notice_batch.reset(token)
        if batch:
            enqueue.send(notify_new_commissions_task, batch)
