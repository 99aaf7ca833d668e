"""Sending a Celery task from code that has already committed what it did: the one way to do it.

A task sent after a commit (an email about what was just recorded) must not fail what committed: with Redis down,
`task.delay` raises once its publish retries are spent, which answered 500 to a request whose change was made (an
API client retrying it then met "already recorded"). So here a task the broker cannot take runs in this process
instead: the email still goes out, a moment later in the same request. What fails in it is logged, never raised
into the caller. tests/test_redis_outage.py checks both, with gunicorn and the broker unreachable.
"""

from __future__ import annotations

import logging

from django.db import transaction
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)


def send(task, *args) -> None:
    """`task.delay(*args)`; while the broker cannot be reached, the task runs here."""
    try:
        task.delay(*args)
        return
    except OperationalError:
        log.warning("broker unreachable: running %s in this process", task.name, exc_info=True)
    try:
        task.apply(args=args, throw=True)
    except Exception:
        log.exception("%s failed in this process", task.name)


def on_commit(task, *args) -> None:
    """`send(task, *args)` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send(task, *args))
