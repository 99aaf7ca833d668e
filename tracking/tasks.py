from celery import shared_task

from . import buffer, rollups


@shared_task(ignore_result=True)
def flush_click_buffer_task() -> int:
    """Drains the click buffer into the database (beat, every few seconds).

    Idempotency keys: `Click.token` and `Referral.rid` (unique); entries are
    acknowledged only after their rows are committed, so a killed worker
    loses nothing and a repeated batch adds nothing.
    """
    if not buffer.is_enabled():
        return 0
    return buffer.flush()


@shared_task
def rollup_daily_stats_task() -> int:
    """Idempotent: rebuilds whole closed days from raw rows under a row lock."""
    return rollups.rollup_daily_stats()
