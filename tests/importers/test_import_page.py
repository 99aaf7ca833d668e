"""Affiliates → Import in the dashboard: choose the platform, upload the CSV, see the dry run, then confirm; with
Django's CSRF checks on, as a browser meets them."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from affiliates.models import Affiliate, Commission, Referral
from tenants.models import Membership
from tests.factories import MembershipFactory

from .conftest import FIXTURES

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_client(owner):
    """A logged-in owner whose POSTs must carry the CSRF token, as a browser's do."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


def csrf_token(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


def upload(client, token: str, platform: str = "rewardful", name: str = "rewardful.csv"):
    csv = SimpleUploadedFile(name, (FIXTURES / name).read_bytes(), content_type="text/csv")
    return client.post("/affiliates/import/", {"csrfmiddlewaretoken": token, "platform": platform, "file": csv})


def hidden(response, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', response.content.decode()).group(1)


def test_upload_shows_a_dry_run_then_confirming_imports_once(browser_client, merchant):
    page = browser_client.get("/affiliates/")
    assert page.status_code == 200 and 'href="/affiliates/import/"' in page.content.decode()
    form = browser_client.get("/affiliates/import/")
    assert form.status_code == 200 and "Rewardful" in form.content.decode() and "FirstPromoter" in form.content.decode()

    preview = upload(browser_client, csrf_token(form))

    assert preview.status_code == 200
    text = preview.content.decode()
    assert "What importing rewardful.csv would change" in text
    assert (
        "Rewardful: 3 new affiliates, 0 existing affiliates updated, 3 referred customers, 2 unpaid commissions" in text
    )
    assert "Maya Chen" in text and "<code>maya-blog</code>" in text and "cus_RWmaya0002" in text and "$30.00" in text
    assert "already paid on Rewardful" in text
    assert Affiliate.objects.count() == 0  # a preview writes nothing

    done = browser_client.post(
        "/affiliates/import/confirm/", {"csrfmiddlewaretoken": csrf_token(preview), "token": hidden(preview, "token")}
    )

    assert done.status_code == 302 and done["Location"] == "/affiliates/"
    listing = browser_client.get(done["Location"])
    shown = listing.content.decode()
    assert "Imported from Rewardful: 3 new affiliates" in shown
    assert "Maya Chen" in shown and "leo.brooks@example.com" in shown
    assert Affiliate.objects.for_merchant(merchant).count() == 3
    assert Referral.objects.for_merchant(merchant).filter(source="manual").count() == 3
    assert Commission.objects.for_merchant(merchant).count() == 2
    maya = Affiliate.objects.get(email="maya@example.com")
    detail = browser_client.get(f"/affiliates/{maya.public_id}/").content.decode()
    assert "Old links keep working with <code>maya-blog</code> (Rewardful)" in detail

    # The same confirmation again (a double click, the back button): nothing more.
    again = browser_client.post(
        "/affiliates/import/confirm/", {"csrfmiddlewaretoken": csrf_token(preview), "token": hidden(preview, "token")}
    )
    assert again.status_code == 302 and again["Location"] == "/affiliates/import/"
    assert "expired or was imported already" in browser_client.get(again["Location"]).content.decode()
    assert (Affiliate.objects.count(), Commission.objects.count()) == (3, 2)


def test_posts_without_the_csrf_token_are_refused(browser_client):
    csv = SimpleUploadedFile("tolt.csv", (FIXTURES / "tolt.csv").read_bytes(), content_type="text/csv")
    assert browser_client.post("/affiliates/import/", {"platform": "tolt", "file": csv}).status_code == 403
    assert browser_client.post("/affiliates/import/confirm/", {"token": "x"}).status_code == 403
    assert Affiliate.objects.count() == 0


def test_a_file_with_bad_lines_lists_them_and_offers_no_import(browser_client):
    form = browser_client.get("/affiliates/import/")

    preview = upload(browser_client, csrf_token(form), name="rewardful_bad.csv")

    text = preview.content.decode()
    assert preview.status_code == 200 and "This file cannot be imported yet" in text
    assert '<td class="num">3</td><td>the email &#x27;not-an-email&#x27; is not an email address</td>' in text
    assert "the customer &#x27;12345&#x27; is not a Stripe customer id" in text
    assert "/affiliates/import/confirm/" not in text
    assert Affiliate.objects.count() == 0


def test_a_missing_file_or_platform_is_a_400_with_the_form_again(browser_client):
    form = browser_client.get("/affiliates/import/")
    response = browser_client.post("/affiliates/import/", {"csrfmiddlewaretoken": csrf_token(form)})
    assert response.status_code == 400
    assert response.content.decode().count('class="error"') == 2


def test_a_confirmation_is_only_good_for_who_uploaded_it(browser_client, merchant, other_merchant, other_owner):
    form = browser_client.get("/affiliates/import/")
    preview = upload(browser_client, csrf_token(form))
    stolen = hidden(preview, "token")

    stranger = Client()
    stranger.force_login(other_owner)
    response = stranger.post("/affiliates/import/confirm/", {"token": stolen})

    assert response.status_code == 302 and response["Location"] == "/affiliates/import/"
    assert Affiliate.objects.count() == 0
    # Nor does the upload reach the other merchant's page: theirs is empty.
    assert "What importing" not in stranger.get("/affiliates/import/").content.decode()


def test_members_who_cannot_manage_and_visitors_cannot_import(client, merchant):
    member = MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER).user
    client.force_login(member)
    assert client.get("/affiliates/import/").status_code == 403
    assert 'href="/affiliates/import/"' not in client.get("/affiliates/").content.decode()
    client.logout()
    response = client.get("/affiliates/import/")
    assert response.status_code == 302 and "/login" in response["Location"]
