"""Review of the Stripe-drainer change (196b2f7..1e869d7): each test shows a defect an operator or affiliate would
notice. They fail on the reviewed code and pass once the finding is fixed."""

import smtplib
from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from affiliates import emails
from affiliates.models import Commission
from affiliates.services import batched_commission_notices, record_commission
from stripe_integration.dispatch import SLOT_KEY, SLOT_TTL
from stripe_integration.services import requeue_stale_events
from stripe_integration.tasks import drain_stripe_events_task
from tests.factories import AffiliateFactory, ReferralFactory
from tests.stripe_events import checkout_session, make_event, post_event


def slot_keys() -> list[str]:
    return [SLOT_KEY.format(slot) for slot in range(max(1, settings.STRIPE_EVENT_DRAINERS))]


@pytest.fixture(autouse=True)
def free_slots():
    cache.delete_many(slot_keys())
    yield
    cache.delete_many(slot_keys())


def post_checkout(client, merchant, amount: int) -> None:
    referral = ReferralFactory(affiliate__merchant=merchant, affiliate__program=merchant.programs.get(is_default=True))
    session = checkout_session(client_reference_id=referral.rid, amount_total=amount)
    event = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
    assert post_event(client, event).status_code == 200


def test_a_long_backlog_does_not_get_one_more_drainer_every_minute(
    client, merchant, monkeypatch, django_capture_on_commit_callbacks
):
    """Every drainer slot is held by a drainer still working through a long backlog, and payments keep arriving.
    Each minute the sweep finds a payment pending for over a minute and starts another drainer without a slot; each
    such drainer keeps a worker process busy until the backlog is gone (it hands over to another slotless one), so
    STRIPE_EVENT_DRAINERS stops being a limit and, minute after minute, no process is left for emails and click
    flushes. One extra drainer covers slots of killed workers (their keys expire within SLOT_TTL anyway)."""
    started = []
    monkeypatch.setattr(drain_stripe_events_task, "delay", lambda *args: started.append(args))
    for key in slot_keys():  # the running drainers' slots, renewed by them after every chunk
        cache.set(key, 1, SLOT_TTL)
    now = timezone.now()
    for minute in (1, 2, 3):
        post_checkout(client, merchant, 10000 + minute)
        with django_capture_on_commit_callbacks(execute=True):
            requeue_stale_events(now=now + timedelta(minutes=minute, seconds=1))
    assert len(started) <= 1, f"{len(started)} drainers started on top of {len(slot_keys())} busy ones"


def test_one_undeliverable_address_does_not_cost_other_affiliates_their_new_commission_emails(
    merchant, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    """A drainer's chunk sends its new-commission emails as one task. An affiliate whose address the mail server
    refuses must cost only their own email, as when each commission had its task; here the affiliates recorded after
    them in the same chunk get nothing (the task stops at the first failure and is not retried)."""
    program = merchant.programs.get(is_default=True)
    bad = AffiliateFactory(merchant=merchant, program=program, email="bounces@example.net")
    good = [AffiliateFactory(merchant=merchant, program=program, email=f"ok{n}@example.net") for n in range(2)]
    real_send = emails.send_mail

    def send_mail(subject, body, sender, to, **kwargs):
        if to == ["bounces@example.net"]:
            raise smtplib.SMTPRecipientsRefused({to[0]: (550, b"No such user")})
        return real_send(subject, body, sender, to, **kwargs)

    monkeypatch.setattr(emails, "send_mail", send_mail)
    try:
        with batched_commission_notices(), django_capture_on_commit_callbacks(execute=True):
            for n, affiliate in enumerate([bad, *good]):  # as a drainer's chunk records them
                record_commission(
                    ReferralFactory(affiliate=affiliate),
                    source_type=Commission.SourceType.PAYMENT_INTENT,
                    source_id=f"pi_review{n}",
                    base_amount=10000,
                    currency="usd",
                )
    except smtplib.SMTPException:
        pass  # the failing address's own email is lost either way
    assert sorted(mail.to[0] for mail in mailoutbox) == ["ok0@example.net", "ok1@example.net"]


def test_a_new_commission_email_queued_before_the_upgrade_is_still_sent(merchant, affiliate, mailoutbox):
    """Messages for `affiliates.tasks.notify_new_commission_task` (the previous release's name) sit in the broker
    while workers are upgraded; a worker that no longer knows the name discards them ("Received unregistered task"),
    and those affiliates never hear of their commission."""
    commission = record_commission(
        ReferralFactory(affiliate=affiliate),
        source_type=Commission.SourceType.PAYMENT_INTENT,
        source_id="pi_review_upgrade",
        base_amount=10000,
        currency="usd",
    )
    mailoutbox.clear()
    task = current_app.tasks.get("affiliates.tasks.notify_new_commission_task")
    assert task is not None, "the previous release's task name is no longer registered"
    task.apply(args=[commission.pk])
    assert [mail.to for mail in mailoutbox] == [[affiliate.email]]
