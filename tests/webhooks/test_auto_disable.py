"""An endpoint whose attempts all failed for WEBHOOK_DISABLE_AFTER_DAYS is disabled, says why, and owners are told."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from affiliates.services import create_affiliate
from tenants.models import Membership
from tests.factories import MembershipFactory
from webhooks.email_tasks import notify_endpoint_disabled_task
from webhooks.models import EventType, WebhookAttempt, WebhookEndpoint

from .conftest import endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)


def _failing_since(endpoint, when) -> None:
    """Days of failed attempts, as the delivery path would have noted them."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=when)


def test_an_endpoint_failing_for_five_days_is_disabled_says_why_and_its_owners_are_emailed(
    merchant, owner, receiver, merchant_client, api, settings
):
    assert settings.WEBHOOK_DISABLE_AFTER_DAYS == 5
    second_owner = MembershipFactory(merchant=merchant).user
    MembershipFactory(merchant=merchant, role=Membership.Role.ADMIN)
    MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER)
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(500, 500, (503, "down for good"))

    create_affiliate(merchant, email="maya@example.com", code="maya")
    endpoint.refresh_from_db()
    first = WebhookAttempt.objects.get(delivery__endpoint=endpoint)
    assert (endpoint.status, endpoint.failing_since, endpoint.disabled_reason) == (
        "enabled",
        first.attempted_at,
        "",
    )

    # Nearly five days of failures: still enabled.
    _failing_since(endpoint, timezone.now() - timedelta(days=5) + timedelta(hours=1))
    create_affiliate(merchant, email="sam@example.com", code="sam")
    endpoint.refresh_from_db()
    assert endpoint.status == "enabled" and mail.outbox == []

    since = timezone.now() - timedelta(days=5, minutes=1)
    _failing_since(endpoint, since)
    create_affiliate(merchant, email="kim@example.com", code="kim")
    endpoint.refresh_from_db()
    assert len(receiver.requests) == 3
    assert endpoint.status == "disabled"
    reason = (
        "Disabled automatically after 5 days of failures: every attempt since "
        f"{since.strftime('%b %-d, %Y %H:%M')} UTC failed (the last: HTTP 503)."
    )
    assert endpoint.disabled_reason == reason

    [email] = mail.outbox
    assert sorted(email.to) == sorted([owner.email, second_owner.email])  # the owners, not admins or members
    assert email.subject == f"Webhook endpoint disabled: {endpoint.url}"
    assert reason in email.body
    assert settings.SITE_URL + reverse("webhooks:endpoint", args=[endpoint.public_id]) in email.body

    body = api.get(f"/api/v1/webhook_endpoints/{endpoint.public_id}").json()
    assert (body["status"], body["disabled_reason"]) == ("disabled", reason)
    assert reason in merchant_client.get(reverse("webhooks:endpoint", args=[endpoint.public_id])).content.decode()
    assert reason in merchant_client.get(reverse("webhooks:endpoints")).content.decode()

    create_affiliate(merchant, email="lee@example.com", code="lee")
    assert len(receiver.requests) == 3  # a disabled endpoint is sent nothing

    merchant_client.post(reverse("webhooks:toggle_endpoint", args=[endpoint.public_id]))
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.disabled_reason, endpoint.failing_since) == ("enabled", "", None)
    body = api.get(f"/api/v1/webhook_endpoints/{endpoint.public_id}").json()
    assert (body["status"], body["disabled_reason"]) == ("enabled", None)
    assert reason not in merchant_client.get(reverse("webhooks:endpoints")).content.decode()
    assert len(mail.outbox) == 1


def test_a_success_clears_the_failures_so_far(merchant, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(500)
    create_affiliate(merchant, email="maya@example.com", code="maya")
    _failing_since(endpoint, timezone.now() - timedelta(days=6))

    create_affiliate(merchant, email="sam@example.com", code="sam")  # answered 200
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.failing_since) == ("enabled", None)

    receiver.answer((500, "a new outage"))
    create_affiliate(merchant, email="kim@example.com", code="kim")
    endpoint.refresh_from_db()
    latest = WebhookAttempt.objects.filter(delivery__endpoint=endpoint).latest("attempted_at")
    assert (endpoint.status, endpoint.failing_since) == ("enabled", latest.attempted_at)  # failing for a moment only
    assert mail.outbox == []


def test_enabling_through_the_api_clears_the_reason(merchant, receiver, api):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    receiver.answer(500, 500)
    create_affiliate(merchant, email="maya@example.com", code="maya")
    _failing_since(endpoint, timezone.now() - timedelta(days=7))
    create_affiliate(merchant, email="sam@example.com", code="sam")
    assert (
        api.get(f"/api/v1/webhook_endpoints/{endpoint.public_id}")
        .json()["disabled_reason"]
        .startswith("Disabled automatically")
    )

    response = api.patch(f"/api/v1/webhook_endpoints/{endpoint.public_id}", {"status": "enabled"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["disabled_reason"]) == ("enabled", None)
    create_affiliate(merchant, email="kim@example.com", code="kim")
    assert len(receiver.requests) == 3


def test_no_email_for_an_endpoint_enabled_again_before_the_email_went(merchant, owner, receiver):
    endpoint = endpoint_for(merchant, receiver, EventType.AFFILIATE_CREATED)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status="disabled", disabled_reason="Disabled automatically.")
    notify_endpoint_disabled_task(endpoint.pk)
    assert len(mail.outbox) == 1
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status="enabled", disabled_reason="")
    notify_endpoint_disabled_task(endpoint.pk)
    assert len(mail.outbox) == 1
