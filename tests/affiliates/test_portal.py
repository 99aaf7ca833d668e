"""The affiliate portal: signup as the program says, login, password reset, and only one's own data of one merchant."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from affiliates.invites import invite_token
from affiliates.models import Affiliate, Commission, Program
from affiliates.services import create_payout_batch, record_commission
from tenants.lockout import lift_lockout
from tests.factories import (
    PASSWORD,
    AffiliateFactory,
    CommissionFactory,
    MembershipFactory,
    ReferralFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def url(name, merchant, **kw):
    return reverse(f"affiliates:{name}", kwargs={"slug": merchant.slug, **kw})


@pytest.fixture
def portal_user(affiliate):
    user = UserFactory(email="alice@example.net")
    Affiliate.objects.filter(pk=affiliate.pk).update(user=user, email=user.email)
    affiliate.refresh_from_db()
    return user


@pytest.fixture
def portal_client(client, portal_user):
    client.force_login(portal_user)
    return client


def test_signup_pending_when_the_program_reviews_and_the_merchant_is_told(
    client, merchant, django_capture_on_commit_callbacks
):
    MembershipFactory(merchant=merchant, user__email="owner@acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("portal_signup", merchant),
            {"name": "Dana", "email": "Dana@Example.net", "password": "a-long-secret-phrase"},
        )
    assert response.status_code == 302 and response["Location"] == url("portal_dashboard", merchant)
    affiliate = Affiliate.objects.get(merchant=merchant, email="dana@example.net")
    assert (
        affiliate.status == "pending"
        and affiliate.user.email == "dana@example.net"
        and affiliate.user.check_password("a-long-secret-phrase")
    )
    assert [m.to for m in mail.outbox] == [["owner@acme.test"]] and "dana@example.net" in mail.outbox[0].subject
    body = client.get(url("portal_dashboard", merchant)).content.decode()
    assert "being reviewed" in body and "?ref=" not in body


def test_signup_approved_at_once_when_the_program_auto_approves(client, merchant, django_capture_on_commit_callbacks):
    Program.objects.filter(merchant=merchant).update(auto_approve=True)
    Merchant = type(merchant)
    Merchant.objects.filter(pk=merchant.pk).update(website="https://acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url("portal_signup", merchant),
            {"name": "Eve", "email": "eve@example.net", "password": "a-long-secret-phrase"},
        )
    affiliate = Affiliate.objects.get(merchant=merchant, email="eve@example.net")
    assert affiliate.status == "approved"
    assert ["eve@example.net"] in [m.to for m in mail.outbox]
    body = client.get(url("portal_dashboard", merchant)).content.decode()
    assert f"https://acme.test/?ref={affiliate.code}" in body


def test_signup_closed_refuses(client, merchant):
    Program.objects.filter(merchant=merchant).update(signup_open=False)
    assert "Signups are closed" in client.get(url("portal_signup", merchant)).content.decode()
    response = client.post(
        url("portal_signup", merchant), {"name": "F", "email": "f@example.net", "password": "a-long-secret-phrase"}
    )
    assert response.status_code == 403 and not Affiliate.objects.filter(email="f@example.net").exists()


def test_signup_with_an_existing_account_needs_its_password(client, merchant, other_merchant):
    user = UserFactory(email="multi@example.net")
    response = client.post(
        url("portal_signup", merchant), {"name": "M", "email": "multi@example.net", "password": "wrong-password-here"}
    )
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert not Affiliate.objects.filter(email="multi@example.net").exists()
    response = client.post(
        url("portal_signup", merchant), {"name": "M", "email": "multi@example.net", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert Affiliate.objects.get(merchant=merchant, email="multi@example.net").user == user


def test_signup_refuses_a_weak_password_and_a_second_account(client, merchant, affiliate):
    response = client.post(
        url("portal_signup", merchant), {"name": "W", "email": "weak@example.net", "password": "123"}
    )
    assert response.status_code == 400 and not Affiliate.objects.filter(email="weak@example.net").exists()


def test_login_goes_to_the_dashboard_and_a_stranger_is_sent_to_login(client, merchant, portal_user):
    AffiliateFactory(merchant=merchant, user=None, code="invited")  # an invited affiliate without an account yet
    response = client.get(url("portal_dashboard", merchant))
    assert response.status_code == 302 and url("portal_login", merchant) in response["Location"]
    assert client.get(response["Location"]).status_code == 200  # the login page itself, not a redirect loop
    response = client.post(url("portal_login", merchant), {"username": "alice@example.net", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == url("portal_dashboard", merchant)
    assert client.get(url("portal_login", merchant))["Location"] == url("portal_dashboard", merchant)  # already in
    client.logout()
    bad = client.post(url("portal_login", merchant), {"username": "alice@example.net", "password": "nope"})
    assert bad.status_code == 400


def test_password_reset_by_email_in_the_portal(client, merchant, portal_user):
    client.post(url("portal_password_reset", merchant), {"email": "alice@example.net"})
    assert len(mail.outbox) == 1 and merchant.name in mail.outbox[0].subject
    link = re.search(r"https?://[^\s]+", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    assert path.startswith(f"/p/{merchant.slug}/reset/")
    form_page = client.get(path, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "brand-new-phrase-42", "new_password2": "brand-new-phrase-42"},
    )
    assert response.status_code == 302
    portal_user.refresh_from_db()
    assert portal_user.check_password("brand-new-phrase-42")


def test_dashboard_shows_link_stats_and_builds_links_for_the_merchants_site(portal_client, merchant, affiliate):
    type(merchant).objects.filter(pk=merchant.pk).update(website="https://acme.test")
    CommissionFactory(referral__affiliate=affiliate, amount=4200, source_id="pi_mine")
    response = portal_client.get(
        url("portal_dashboard", merchant) + "?page_url=https://app.acme.test/pricing?plan=pro%26ref=old"
    )
    body = response.content.decode()
    assert "https://acme.test/?ref=alice" in body and "$42.00" in body
    assert response.context["built_link"] == "https://app.acme.test/pricing?plan=pro&ref=alice"
    assert not response.context["built_off_site"]
    assert "Add your" in body and "payout details" in body  # nothing to pay them with yet
    assert portal_client.get(url("portal_dashboard", merchant) + "?page_url=https://evil.test/").context[
        "built_off_site"
    ]


def test_an_affiliate_sees_only_their_own_rows(portal_client, merchant, affiliate):
    bob = AffiliateFactory(merchant=merchant, code="bob")
    CommissionFactory(
        referral__affiliate=affiliate, source_id="pi_alice_1", status=Commission.Status.APPROVED, amount=6000
    )
    CommissionFactory(referral__affiliate=bob, source_id="pi_bob_1", status=Commission.Status.APPROVED, amount=7000)
    create_payout_batch(merchant)
    commissions = portal_client.get(url("portal_commissions", merchant))
    assert [c.source_id for c in commissions.context["page"].object_list] == ["pi_alice_1"]
    payouts = portal_client.get(url("portal_payouts", merchant))
    assert [p.affiliate_id for p in payouts.context["page"].object_list] == [affiliate.pk]
    assert "$70.00" not in payouts.content.decode() and "$60.00" in payouts.content.decode()
    dashboard = portal_client.get(url("portal_dashboard", merchant))
    assert str(dashboard.context["stats"]["earned"]) == "$60.00"


def test_an_affiliate_of_one_merchant_cannot_open_another_merchants_portal(portal_client, other_merchant):
    AffiliateFactory(merchant=other_merchant, code="stranger")
    for name in ("portal_dashboard", "portal_commissions", "portal_payouts", "portal_settings"):
        response = portal_client.get(url(name, other_merchant))
        assert response.status_code == 403 and "No affiliate account here" in response.content.decode()
    response = portal_client.post(
        url("portal_settings", other_merchant), {"payout_method": "paypal", "paypal_email": "x@example.net"}
    )
    assert response.status_code == 403


def test_a_user_affiliated_with_two_merchants_sees_each_separately(client, merchant, other_merchant):
    user = UserFactory(email="both@example.net")
    mine = AffiliateFactory(merchant=merchant, user=user, email=user.email, code="both")
    theirs = AffiliateFactory(merchant=other_merchant, user=user, email=user.email, code="both")
    CommissionFactory(referral__affiliate=mine, source_id="pi_m", amount=1000)
    CommissionFactory(referral__affiliate=theirs, source_id="pi_o", amount=9900)
    client.force_login(user)
    assert [c.source_id for c in client.get(url("portal_commissions", merchant)).context["page"].object_list] == [
        "pi_m"
    ]
    assert [c.source_id for c in client.get(url("portal_commissions", other_merchant)).context["page"].object_list] == [
        "pi_o"
    ]


def test_unknown_merchant_slug_is_404(client):
    assert client.get("/p/no-such-shop/").status_code == 404
    assert client.get("/p/no-such-shop/join/").status_code == 404


def test_payout_settings_save_and_validate(portal_client, merchant, affiliate):
    response = portal_client.post(url("portal_settings", merchant), {"payout_method": "bank", "bank_details": ""})
    assert response.status_code == 400
    response = portal_client.post(
        url("portal_settings", merchant), {"payout_method": "paypal", "paypal_email": "Alice@PayPal.test"}
    )
    assert response.status_code == 302
    affiliate.refresh_from_db()
    assert (affiliate.payout_method, affiliate.paypal_email, affiliate.notify_on_commission) == (
        "paypal",
        "alice@paypal.test",
        False,
    )
    portal_client.post(
        url("portal_settings", merchant),
        {"payout_method": "bank", "bank_details": "IBAN DE00 1234", "notify_on_commission": "on"},
    )
    affiliate.refresh_from_db()
    assert (affiliate.payout_method, affiliate.bank_details, affiliate.notify_on_commission) == (
        "bank",
        "IBAN DE00 1234",
        True,
    )


def test_new_commission_email_follows_the_affiliates_opt_in(affiliate, django_capture_on_commit_callbacks):
    referral = ReferralFactory(affiliate=affiliate)
    with django_capture_on_commit_callbacks(execute=True):
        record_commission(
            referral, source_type="payment_intent", source_id="pi_notify_1", base_amount=10000, currency="usd"
        )
    assert [m.to for m in mail.outbox] == [[affiliate.email]] and "$20.00" in mail.outbox[0].subject
    Affiliate.objects.filter(pk=affiliate.pk).update(notify_on_commission=False)
    with django_capture_on_commit_callbacks(execute=True):
        record_commission(
            referral, source_type="payment_intent", source_id="pi_notify_2", base_amount=10000, currency="usd"
        )
    assert len(mail.outbox) == 1


def test_branding_shows_on_the_portal(client, merchant):
    type(merchant).objects.filter(pk=merchant.pk).update(
        brand_color="#0f766e", name="Acme Rebrand", logo="logos/acme.png"
    )
    body = client.get(url("portal_signup", merchant)).content.decode()
    assert "--brand: #0f766e" in body and "Earn with Acme Rebrand" in body
    assert '<img src="/media/logos/acme.png"' in body


def test_signup_with_an_existing_email_is_throttled_like_the_login(client, merchant):
    lift_lockout("target@example.net")
    UserFactory(email="target@example.net")
    for _ in range(10):
        client.post(
            url("portal_signup", merchant),
            {"name": "X", "email": "target@example.net", "password": "guess-guess-guess"},
        )
    response = client.post(
        url("portal_signup", merchant), {"name": "X", "email": "target@example.net", "password": PASSWORD}
    )
    assert response.status_code == 400 and "Too many failed attempts" in response.content.decode()
    assert not Affiliate.objects.filter(email="target@example.net").exists()
    lift_lockout("target@example.net")


def test_an_invite_to_an_email_with_an_account_needs_that_accounts_password(client, merchant, other_merchant):
    user = UserFactory(email="both@example.net")  # already an affiliate elsewhere, say
    invited = AffiliateFactory(merchant=merchant, user=None, email="both@example.net", code="both")
    accept = url("portal_accept_invite", merchant, token=invite_token(invited))
    response = client.post(accept, {"password": "not-the-password-1"})
    assert response.status_code == 400
    assert "You already have an account with this email: enter its password." in response.content.decode()
    invited.refresh_from_db()
    assert invited.user is None
    assert client.post(accept, {"password": PASSWORD}).status_code == 302
    invited.refresh_from_db()
    assert invited.user == user
