"""Team: invitations by email, accepting them, roles, removal, the last owner."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from tenants.models import Invitation, Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "plum-kettle-orbit-47"


def accept_path(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/invitations/[\w-]+/)", body).group(1)


@pytest.fixture
def invitation(merchant_client, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = merchant_client.post(reverse("tenants:team"), {"email": "New.Person@Example.com", "role": "admin"})
    assert response.status_code == 302
    assert len(callbacks) == 1  # the email goes out once the invitation is committed
    return Invitation.objects.get(merchant=merchant)


def test_invite_emails_a_single_use_link(invitation, merchant, owner, client):
    assert invitation.email == "new.person@example.com" and invitation.role == "admin"
    assert invitation.invited_by == owner
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.person@example.com"]
    assert merchant.name in mail.outbox[0].subject
    assert accept_path(mail.outbox[0].body) == reverse("tenants:accept_invitation", args=[invitation.token])


def test_inviting_the_same_address_twice_is_refused(invitation, merchant_client, merchant):
    response = merchant_client.post(reverse("tenants:team"), {"email": "new.person@example.com", "role": "member"})
    assert response.status_code == 400
    assert "already been invited" in response.content.decode()
    assert Invitation.objects.filter(merchant=merchant).count() == 1


def test_inviting_an_existing_member_is_refused(merchant_client, merchant, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = merchant_client.post(reverse("tenants:team"), {"email": owner.email, "role": "member"})
    assert response.status_code == 400 and "already a member" in response.content.decode()
    assert not Invitation.objects.exists() and mail.outbox == []


def test_a_new_person_creates_an_account_from_the_invitation_and_joins(invitation, client, merchant):
    path = accept_path(mail.outbox[0].body)
    client.logout()
    page = client.get(path)
    assert page.status_code == 200 and "new.person@example.com" in page.content.decode()
    response = client.post(path, {"name": "New Person", "password": STRONG})
    assert response.status_code == 302 and response.url == reverse("affiliates:overview")
    membership = Membership.objects.get(merchant=merchant, user__email="new.person@example.com")
    assert membership.role == "admin" and membership.user.check_password(STRONG)
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    # Single use: the link is dead now.
    client.logout()
    assert client.get(path).status_code == 404
    assert client.post(path, {"password": STRONG}).status_code == 404


def test_a_logged_in_user_with_the_invited_email_joins(invitation, client, merchant):
    user = UserFactory(email="new.person@example.com")
    client.force_login(user)
    response = client.post(reverse("tenants:accept_invitation", args=[invitation.token]))
    assert response.status_code == 302
    assert Membership.objects.get(merchant=merchant, user=user).role == "admin"
    assert client.session["merchant_id"] == merchant.pk


def test_an_existing_account_is_asked_to_log_in_not_to_sign_up(invitation, client):
    UserFactory(email="new.person@example.com")
    client.logout()
    path = reverse("tenants:accept_invitation", args=[invitation.token])
    assert "Log in to accept" in client.get(path).content.decode()
    assert client.post(path, {"password": STRONG}).status_code == 400
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_another_account_cannot_accept_someone_elses_invitation(invitation, client, merchant):
    stranger = UserFactory(email="stranger@example.com")
    client.force_login(stranger)
    response = client.post(reverse("tenants:accept_invitation", args=[invitation.token]))
    assert response.status_code == 400 and "This invitation is for new.person@example.com" in response.content.decode()
    assert not Membership.objects.filter(merchant=merchant, user=stranger).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_revoked_and_expired_invitations_do_not_work(invitation, merchant_client, client):
    response = merchant_client.post(reverse("tenants:revoke_invitation", args=[invitation.public_id]))
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    client.logout()
    assert client.get(reverse("tenants:accept_invitation", args=[invitation.token])).status_code == 404

    second = Invitation.objects.create(merchant=invitation.merchant, email="late@example.com", role="member")
    Invitation.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(days=15))
    response = client.post(reverse("tenants:accept_invitation", args=[second.token]), {"password": STRONG})
    assert response.status_code == 404
    assert not Membership.objects.filter(user__email="late@example.com").exists()


def test_an_admin_cannot_invite_an_owner(client, merchant):
    admin = MembershipFactory(merchant=merchant, role=Membership.Role.ADMIN).user
    client.force_login(admin)
    response = client.post(reverse("tenants:team"), {"email": "boss@example.com", "role": "owner"})
    assert response.status_code == 400
    assert not Invitation.objects.exists()
    assert client.post(reverse("tenants:team"), {"email": "helper@example.com", "role": "member"}).status_code == 302


def test_owner_changes_a_role_and_removes_a_member(merchant_client, merchant):
    member = MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER)
    response = merchant_client.post(reverse("tenants:change_role", args=[member.public_id]), {"role": "admin"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == "admin"
    assert (
        merchant_client.post(reverse("tenants:change_role", args=[member.public_id]), {"role": "king"}).status_code
        == 400
    )
    member.refresh_from_db()
    assert member.role == "admin"
    response = merchant_client.post(reverse("tenants:remove_member", args=[member.public_id]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_the_last_owner_can_neither_step_down_nor_leave(merchant_client, merchant, owner):
    mine = Membership.objects.get(merchant=merchant, user=owner)
    response = merchant_client.post(reverse("tenants:change_role", args=[mine.public_id]), {"role": "member"})
    assert response.status_code == 400 and "at least one owner" in response.content.decode()
    response = merchant_client.post(reverse("tenants:remove_member", args=[mine.public_id]))
    assert response.status_code == 400
    mine.refresh_from_db()
    assert mine.role == "owner"
    # With a second owner, stepping down works.
    MembershipFactory(merchant=merchant, role=Membership.Role.OWNER)
    assert (
        merchant_client.post(reverse("tenants:change_role", args=[mine.public_id]), {"role": "admin"}).status_code
        == 302
    )
    mine.refresh_from_db()
    assert mine.role == "admin"


def test_an_admin_cannot_change_roles_or_remove_members(client, merchant, owner):
    admin = MembershipFactory(merchant=merchant, role=Membership.Role.ADMIN).user
    owner_membership = Membership.objects.get(merchant=merchant, user=owner)
    client.force_login(admin)
    assert (
        client.post(reverse("tenants:change_role", args=[owner_membership.public_id]), {"role": "member"}).status_code
        == 403
    )
    assert client.post(reverse("tenants:remove_member", args=[owner_membership.public_id])).status_code == 403
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"
