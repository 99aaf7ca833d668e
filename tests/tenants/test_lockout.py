"""The per-account login lockout: every login page honours it, a password reset lifts it, and its count is exact."""

import re
import threading
import uuid

import pytest
from django.core import mail
from django.db import connections
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

LIMIT = 10  # failed attempts per account in the window (tenants/lockout.py)
NEW_PASSWORD = "plum-kettle-orbit-47"


@pytest.fixture
def account(db):
    # A fresh email per test: a lockout lives in Redis for its window, across test runs.
    return UserFactory(email=f"owner-{uuid.uuid4().hex[:12]}@example.com")


def login(client, email, password, *, path=None):
    return client.post(path or reverse("tenants:login"), {"username": email, "password": password})


def lock(client, email, *, path=None):
    for _ in range(LIMIT):
        assert "do not match" in login(client, email, "wrong guess", path=path).content.decode()


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_admin_login_honours_the_lockout(client, account):
    account.is_staff = account.is_superuser = True
    account.save()
    for _ in range(LIMIT):
        response = login(client, account.email, "wrong guess", path="/admin/login/")
        assert response.status_code == 200 and not is_signed_in(client)

    response = login(client, account.email, PASSWORD, path="/admin/login/")

    assert response.status_code == 200 and not is_signed_in(client)
    assert "Too many failed attempts" in response.content.decode()
    # The same account is locked on the dashboard's login too: it is one lockout.
    assert "Too many failed attempts" in login(client, account.email, PASSWORD).content.decode()


def test_guesses_at_the_dashboard_login_lock_the_admin_login(client, account):
    account.is_staff = account.is_superuser = True
    account.save()
    lock(client, account.email)

    login(client, account.email, PASSWORD, path="/admin/login/")

    assert not is_signed_in(client)


def _reset_password(client, email) -> None:
    mail.outbox.clear()
    client.post(reverse("tenants:password_reset"), {"email": email})
    link = re.search(r"https?://[^/\s]+(/password-reset/\S+/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link).url
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302


def test_a_password_reset_lifts_the_lockout_of_that_account_only(client, account):
    other = UserFactory(email=f"other-{uuid.uuid4().hex[:12]}@example.com")
    lock(client, account.email)
    lock(client, other.email)

    _reset_password(client, account.email)

    response = login(client, account.email, NEW_PASSWORD)
    assert response.status_code == 302 and is_signed_in(client)
    client.logout()
    response = login(client, other.email, PASSWORD)
    assert "Too many failed attempts" in response.content.decode() and not is_signed_in(client)


def test_a_password_reset_from_the_portal_lifts_the_lockout(client, merchant, account):
    lock(client, account.email)
    portal = lambda name, **kw: reverse(f"affiliates:{name}", kwargs={"slug": merchant.slug, **kw})  # noqa: E731
    client.post(portal("portal_password_reset"), {"email": account.email})
    path = re.search(r"https?://testserver(\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(path, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    response = login(client, account.email, NEW_PASSWORD, path=portal("portal_login"))

    assert response.status_code == 302 and is_signed_in(client)


def test_simultaneous_guesses_are_each_counted_so_only_the_limit_is_checked(transactional_db):
    """Forty guesses at once: ten are checked against the password, thirty are refused unchecked."""
    email = f"target-{uuid.uuid4().hex[:12]}@example.com"
    UserFactory(email=email)
    start = threading.Barrier(40)
    pages: list[str] = []

    def guess() -> None:
        client = Client()
        try:
            start.wait()
            pages.append(login(client, email, "wrong guess").content.decode())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum("do not match" in page for page in pages) == LIMIT
    assert sum("Too many failed attempts" in page for page in pages) == 40 - LIMIT
