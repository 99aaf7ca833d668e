from celery import shared_task

from . import emails
from .models import Invitation


@shared_task
def send_invitation_task(invitation_id: int) -> None:
    """Sends the accept link; skipped once the invitation is used or withdrawn."""
    invitation = (
        Invitation.objects.select_related("merchant", "invited_by")
        .filter(pk=invitation_id, accepted_at=None, revoked_at=None)
        .first()
    )
    if invitation is None:
        return
    emails.send_invitation(invitation)
