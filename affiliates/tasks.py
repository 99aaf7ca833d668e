"""Tasks that run the services (the email tasks the services enqueue are in affiliates/email_tasks.py)."""

from celery import shared_task

from . import services


@shared_task(name="affiliates.tasks.approve_due_commissions_task")
def approve_due_commissions_task() -> int:
    """Idempotent: only pending commissions past their hold date are touched."""
    return services.approve_due_commissions()
