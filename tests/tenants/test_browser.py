"""In real Chromium: sign up, log out and in, invite a teammate who joins, create an API key shown once."""

import re

import pytest
from django.core import mail

from tenants.models import ApiKey, Invitation, Membership, Merchant, hash_api_key
from tests.conftest import screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "plum-kettle-orbit-47"
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01"
    b"\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_signup_login_team_invite_and_api_key(page, browser, live_server):
    base = live_server.url
    page.goto(base + "/")
    screenshot(page, "landing")
    page.get_by_role("link", name="Sign up free").click()

    page.get_by_label("Company name").fill("Roastery Labs")
    page.get_by_label("Work email").fill("owner@roastery.test")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_text("This password is too short").is_visible()
    screenshot(page, "signup-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/onboarding/$"))
    merchant = Merchant.objects.get(name="Roastery Labs")
    assert Membership.objects.get(merchant=merchant, user__email="owner@roastery.test").role == "owner"

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login/"))
    page.get_by_label("Email").fill("owner@roastery.test")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("do not match an account").is_visible()
    screenshot(page, "login-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/dashboard/"))

    page.goto(base + "/settings/team/")
    page.get_by_label("Email address").fill("barista@roastery.test")
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to barista@roastery.test").is_visible()
    assert page.get_by_role("cell", name="barista@roastery.test").is_visible()
    screenshot(page, "settings-team")
    invitation = Invitation.objects.get(merchant=merchant, email="barista@roastery.test")
    message = wait_for(lambda: next((m for m in mail.outbox if m.to == ["barista@roastery.test"]), None))
    accept_path = re.search(r"/invitations/\S+/", message.body).group(0)
    assert invitation.token in accept_path

    page.goto(base + "/settings/api-keys/")
    assert page.get_by_text("No API keys yet").is_visible()
    page.get_by_label("Name").fill("Production backend")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret key").input_value()
    assert secret.startswith("afk_")
    screenshot(page, "settings-api-key-created")
    page.get_by_role("link", name="I have saved it").click()
    key = ApiKey.objects.get(merchant=merchant)
    assert key.hashed_key == hash_api_key(secret)
    assert page.get_by_text(key.prefix).is_visible() and secret not in page.content()
    screenshot(page, "settings-api-keys")

    page.get_by_role("link", name="Branding").click()
    page.get_by_label("Name shown to affiliates").fill("Roastery Labs Coffee")
    page.get_by_label("Logo").set_input_files(files=[{"name": "logo.gif", "mimeType": "image/gif", "buffer": GIF}])
    page.get_by_role("button", name="Save branding").click()
    assert page.get_by_text("Branding saved").is_visible()
    logo = page.get_by_role("img", name="Roastery Labs Coffee logo")
    logo.wait_for()
    page.wait_for_function("img => img.complete", arg=logo.element_handle())  # loaded, or failed to
    assert logo.evaluate("img => img.naturalWidth") == 1  # the uploaded GIF, served back
    screenshot(page, "settings-branding")
    merchant.refresh_from_db()
    assert merchant.name == "Roastery Labs Coffee" and merchant.logo.name.endswith(".gif")

    # The teammate opens the link in their own browser, creates an account and joins.
    context = browser.new_context()
    try:
        teammate = context.new_page()
        teammate.goto(base + accept_path)
        assert teammate.get_by_text("Join Roastery Labs Coffee on Afficone").is_visible()
        screenshot(teammate, "accept-invitation")
        teammate.get_by_label("Your name").fill("Bea Barista")
        teammate.get_by_label("Choose a password").fill(PASSWORD)
        teammate.get_by_role("button", name="Create account and join").click()
        teammate.wait_for_url(re.compile(r"/dashboard/"))
    finally:
        context.close()
    membership = Membership.objects.get(merchant=merchant, user__email="barista@roastery.test")
    assert membership.role == "admin" and membership.user.name == "Bea Barista"
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    # The rejected signup answered 400 on purpose (Chromium logs that); nothing else went wrong.
    assert [e for e in page.console_errors if "status of 400" not in e] == []
