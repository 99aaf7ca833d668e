"""New-commission emails: sent in batches by the Stripe drainers, one failure costs only its own email."""

import smtplib

import pytest
from celery import current_app

from affiliates import emails
from affiliates.models import Commission
from affiliates.services import batched_commission_notices, record_commission
from tests.factories import AffiliateFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def record(affiliate, source_id: str) -> Commission:
    commission, _ = record_commission(
        ReferralFactory(affiliate=affiliate),
        source_type=Commission.SourceType.PAYMENT_INTENT,
        source_id=source_id,
        base_amount=10000,
        currency="usd",
    )
    return commission


def test_one_undeliverable_address_does_not_cost_other_affiliates_their_emails(
    merchant, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    """A drainer's chunk sends its new-commission emails as one task: an affiliate whose address the mail server
    refuses costs only their own email (tried again later), the affiliates recorded after them still get theirs."""
    program = merchant.programs.get(is_default=True)
    bad = AffiliateFactory(merchant=merchant, program=program, email="bounces@example.net")
    good = [AffiliateFactory(merchant=merchant, program=program, email=f"ok{n}@example.net") for n in range(2)]
    real_send = emails.send_mail
    refused = []

    def send_mail(subject, body, sender, to, **kwargs):
        if to == ["bounces@example.net"]:
            refused.append(to[0])
            raise smtplib.SMTPRecipientsRefused({to[0]: (550, b"No such user")})
        return real_send(subject, body, sender, to, **kwargs)

    monkeypatch.setattr(emails, "send_mail", send_mail)
    with batched_commission_notices(), django_capture_on_commit_callbacks(execute=True):
        for n, affiliate in enumerate([bad, *good]):  # as a drainer's chunk records them
            record(affiliate, f"pi_notice{n}")

    assert sorted(mail.to[0] for mail in mailoutbox) == ["ok0@example.net", "ok1@example.net"]
    assert refused == ["bounces@example.net"] * 3  # tried three times in all (eager here: no wait between)


def test_a_new_commission_email_queued_by_earlier_code_is_still_sent(merchant, affiliate, mailoutbox):
    """Messages for the one-commission task name of earlier code may sit in the broker while workers are upgraded."""
    commission = record(affiliate, "pi_notice_upgrade")
    mailoutbox.clear()
    current_app.tasks["affiliates.tasks.notify_new_commission_task"].apply(args=[commission.pk])
    assert [mail.to for mail in mailoutbox] == [[affiliate.email]]
