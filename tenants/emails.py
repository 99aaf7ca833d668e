"""Emails to team members (Django's mail; the console backend in development)."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Invitation


def send_invitation(invitation: Invitation) -> None:
    context = {
        "invitation": invitation,
        "merchant": invitation.merchant,
        "inviter": invitation.invited_by,
        "role": invitation.get_role_display(),
        "accept_url": settings.SITE_URL + reverse("tenants:accept_invitation", kwargs={"token": invitation.token}),
    }
    subject = render_to_string("emails/team_invitation_subject.txt", context).strip()
    body = render_to_string("emails/team_invitation.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])
