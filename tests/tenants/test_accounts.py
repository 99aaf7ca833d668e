"""Landing, signup, login, logout, password reset, no-merchant and switching."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from affiliates.models import Program
from tenants.lockout import LOGIN_LOCKOUT, lift_lockout
from tenants.models import Membership, Merchant, User
from tests.factories import PASSWORD, AffiliateFactory, MembershipFactory, MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "plum-kettle-orbit-47"


def test_landing_page_explains_and_offers_signup_and_login(client):
    response = client.get("/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "affiliate platform" in text
    assert reverse("tenants:signup") in text and reverse("tenants:login") in text


def test_landing_sends_a_team_member_to_the_overview(merchant_client):
    response = merchant_client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("affiliates:overview")


def test_signup_creates_merchant_owner_and_default_program_and_logs_in(client):
    response = client.post(
        reverse("tenants:signup"), {"company": "Bean There", "email": "Ana@Bean.test", "password": STRONG}
    )
    assert response.status_code == 302
    assert response.url == reverse("affiliates:onboarding")
    user = User.objects.get(email="ana@bean.test")
    assert user.check_password(STRONG)
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.merchant.name == "Bean There" and membership.merchant.slug == "bean-there"
    assert Program.objects.filter(merchant=membership.merchant, is_default=True, commission_bps=2000).exists()
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("tenants:team")).status_code == 200


def test_signup_with_an_existing_email_says_to_log_in_and_creates_nothing(client):
    UserFactory(email="taken@example.com")
    merchants = Merchant.objects.count()
    response = client.post(
        reverse("tenants:signup"), {"company": "Dup", "email": "TAKEN@example.com", "password": STRONG}
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode() and reverse("tenants:login") in response.content.decode()
    assert Merchant.objects.count() == merchants
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "password,message", [("short1", "too short"), ("password123", "too common"), ("83749201834", "entirely numeric")]
)
def test_signup_applies_the_password_validators(client, password, message):
    response = client.post(
        reverse("tenants:signup"), {"company": "Weak", "email": "weak@example.com", "password": password}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()


def test_login_and_post_logout(client, owner):
    response = client.post(reverse("tenants:login"), {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("affiliates:overview")
    assert client.get(reverse("tenants:logout")).status_code == 405  # logging out is a POST, not a link
    assert "_auth_user_id" in client.session
    response = client.post(reverse("tenants:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_login_with_a_wrong_password_says_so(client, owner):
    response = client.post(reverse("tenants:login"), {"username": owner.email, "password": "nope"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email_end_to_end(client, owner):
    response = client.post(reverse("tenants:password_reset"), {"email": owner.email.upper()})
    assert response.status_code == 302 and response.url == reverse("tenants:password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]
    link = re.search(r"https?://[^/\s]+(/password-reset/\S+/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link)  # Django swaps the token for a session and redirects to set-password
    assert response.status_code == 302
    form_url = response.url
    response = client.post(form_url, {"new_password1": STRONG, "new_password2": STRONG})
    assert response.status_code == 302 and response.url == reverse("tenants:password_reset_complete")
    owner.refresh_from_db()
    assert owner.check_password(STRONG)
    assert client.post(reverse("tenants:login"), {"username": owner.email, "password": STRONG}).status_code == 302
    # The link works once.
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_email_sends_nothing_and_reveals_nothing(client):
    response = client.post(reverse("tenants:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response.url == reverse("tenants:password_reset_done")
    assert mail.outbox == []


def test_a_user_with_no_merchant_is_offered_to_create_one(client):
    affiliate = AffiliateFactory(user=UserFactory(email="aff@example.com"))
    client.force_login(affiliate.user)
    response = client.get(reverse("affiliates:overview"))
    assert response.status_code == 302 and response.url == reverse("tenants:no_merchant")
    page = client.get(reverse("tenants:no_merchant")).content.decode()
    assert affiliate.merchant.name in page  # their affiliate portal is linked
    response = client.post(reverse("tenants:no_merchant"), {"company": "Side Hustle"})
    assert response.status_code == 302 and response.url == reverse("affiliates:onboarding")
    membership = Membership.objects.get(user=affiliate.user)
    assert membership.merchant.name == "Side Hustle" and membership.role == Membership.Role.OWNER


def test_switch_merchant_changes_the_current_tenant(client, merchant, owner):
    second = MerchantFactory(name="Second Shop")
    MembershipFactory(merchant=second, user=owner, role=Membership.Role.MEMBER)
    client.force_login(owner)
    response = client.post(reverse("tenants:switch"), {"merchant": str(second.public_id)})
    assert response.status_code == 302
    assert client.session["merchant_id"] == second.pk
    assert client.get(reverse("tenants:team")).status_code == 403  # a plain member of the second shop


def test_switch_to_a_merchant_the_user_is_not_in_answers_404(client, merchant, owner, other_merchant):
    client.force_login(owner)
    assert client.post(reverse("tenants:switch"), {"merchant": str(other_merchant.public_id)}).status_code == 404
    assert client.post(reverse("tenants:switch"), {"merchant": "not-a-uuid"}).status_code == 400
    assert client.session.get("merchant_id") is None


def test_repeated_failed_logins_lock_the_account_for_a_while(client, owner):
    try:
        for _ in range(LOGIN_LOCKOUT.limit):
            response = client.post(reverse("tenants:login"), {"username": owner.email, "password": "guess"})
            assert "do not match an account" in response.content.decode()
        response = client.post(reverse("tenants:login"), {"username": owner.email, "password": PASSWORD})
        assert "Too many failed attempts" in response.content.decode()
        assert "_auth_user_id" not in client.session
        lift_lockout(owner.email)  # what the end of the window does
        response = client.post(reverse("tenants:login"), {"username": owner.email.upper(), "password": PASSWORD})
        assert response.status_code == 302 and "_auth_user_id" in client.session
    finally:
        lift_lockout(owner.email)
