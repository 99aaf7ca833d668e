"""Emails about webhooks to the merchant's team (Django's mail; the console backend in development)."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from tenants.models import Membership

from .models import WebhookEndpoint


def send_endpoint_disabled(endpoint: WebhookEndpoint) -> None:
    """To the merchant's owners: the endpoint was disabled after failing for days, why, and where to enable it."""
    recipients = list(
        Membership.objects.for_merchant(endpoint.merchant)
        .filter(role=Membership.Role.OWNER)
        .order_by("pk")
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return
    context = {
        "endpoint": endpoint,
        "merchant": endpoint.merchant,
        "endpoint_url": settings.SITE_URL + reverse("webhooks:endpoint", kwargs={"code": endpoint.public_id}),
    }
    subject = render_to_string("emails/webhook_endpoint_disabled_subject.txt", context).strip()
    body = render_to_string("emails/webhook_endpoint_disabled.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
