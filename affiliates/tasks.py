from celery import shared_task

from . import emails, services
from .models import Commission, Payout


@shared_task
def notify_new_commission_task(commission_id: int) -> None:
    commission = Commission.objects.select_related("affiliate", "merchant").filter(pk=commission_id).first()
    if commission is None:
        return
    emails.send_new_commission(commission)


@shared_task
def notify_payout_sent_task(payout_id: int) -> None:
    payout = Payout.objects.select_related("affiliate", "merchant").filter(pk=payout_id).first()
    if payout is None:
        return
    emails.send_payout_sent(payout)


@shared_task
def approve_due_commissions_task() -> int:
    """Idempotent: only pending commissions past their hold date are touched."""
    return services.approve_due_commissions()
