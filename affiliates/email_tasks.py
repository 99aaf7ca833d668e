"""The email tasks the services enqueue once their transaction commits.

They import models and emails only, never the services, so the services import them at the top (the tasks that run
services live in affiliates/tasks.py, above). Their names are those they had in affiliates/tasks.py, so messages
already queued under them still run.
"""

import logging

from celery import shared_task

from . import emails
from .invites import invite_token
from .models import Affiliate, Commission, Payout, TierPromotion

log = logging.getLogger(__name__)

NOTICE_ATTEMPTS = 3


@shared_task(name="affiliates.tasks.notify_new_commission_task")
def notify_new_commission_task(commission_id: int) -> None:
    """The one-commission task of earlier code: messages already queued under this name still send their email."""
    notify_new_commissions_task([commission_id])


@shared_task(name="affiliates.tasks.notify_new_commissions_task")
def notify_new_commissions_task(commission_ids: list[int], attempt: int = 1) -> None:
    """One email per commission (affiliates who turned these emails off get none); ids that are gone are skipped.

    One address the mail server refuses costs only its own email: the others are sent, and the failed ones are tried
    again later (a minute, then four), up to NOTICE_ATTEMPTS times in all.
    """
    failed = []
    commissions = Commission.objects.select_related("affiliate", "merchant").filter(pk__in=commission_ids)
    for commission in commissions.order_by("pk"):
        try:
            emails.send_new_commission(commission)
        except Exception:
            log.exception("new-commission email for commission %s failed (attempt %s)", commission.pk, attempt)
            failed.append(commission.pk)
    if failed and attempt < NOTICE_ATTEMPTS:
        notify_new_commissions_task.apply_async((failed, attempt + 1), countdown=60 * 4 ** (attempt - 1))


@shared_task(name="affiliates.tasks.notify_payout_sent_task")
def notify_payout_sent_task(payout_id: int) -> None:
    payout = Payout.objects.select_related("affiliate", "merchant").filter(pk=payout_id).first()
    if payout is None:
        return
    emails.send_payout_sent(payout)


@shared_task(name="affiliates.tasks.notify_affiliate_approved_task")
def notify_affiliate_approved_task(affiliate_id: int) -> None:
    affiliate = (
        Affiliate.objects.select_related("merchant").filter(pk=affiliate_id, status=Affiliate.Status.APPROVED).first()
    )
    if affiliate is None:
        return  # gone, or no longer approved by the time the task ran
    emails.send_affiliate_approved(affiliate)


@shared_task(name="affiliates.tasks.notify_new_application_task")
def notify_new_application_task(affiliate_id: int) -> None:
    affiliate = Affiliate.objects.select_related("merchant").filter(pk=affiliate_id).first()
    if affiliate is None:
        return
    emails.send_new_application(affiliate)


@shared_task(name="affiliates.tasks.notify_affiliate_invited_task")
def notify_affiliate_invited_task(affiliate_id: int) -> None:
    affiliate = Affiliate.objects.select_related("merchant").filter(pk=affiliate_id, user=None).first()
    if affiliate is None:
        return  # already joined
    emails.send_affiliate_invited(affiliate, token=invite_token(affiliate))


@shared_task(name="affiliates.tasks.notify_affiliate_promoted_task")
def notify_affiliate_promoted_task(promotion_id: int) -> None:
    """The affiliate moved up a tier (automatically, or approved by the merchant)."""
    promotion = (
        TierPromotion.objects.select_related("affiliate", "merchant", "to_program")
        .filter(pk=promotion_id, status__in=[TierPromotion.Status.MOVED, TierPromotion.Status.APPROVED])
        .first()
    )
    if promotion is None:
        return
    emails.send_affiliate_promoted(promotion)
