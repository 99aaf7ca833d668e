"""In real Chromium: a merchant imports its FirstPromoter export from the dashboard, then a visitor arrives on the
merchant's site through a promoter's old ?fpr= link and /t.js credits the imported affiliate. Screenshots of the
preview go to test-artifacts/screenshots/."""

import pytest
from django.conf import settings
from django.test import Client

from affiliates.models import Affiliate, Commission, Referral
from tests.conftest import screenshot
from tests.tracking.test_browser import ready, stored_clicks

from .conftest import FIXTURES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])


def test_merchant_previews_and_confirms_an_import_then_an_old_fpr_link_is_credited(
    page, live_server, merchant, owner, shop
):
    log_in(page, live_server, owner)
    page.goto(live_server.url + "/affiliates/")
    page.get_by_role("link", name="Import").click()
    page.get_by_label("FirstPromoter").check()
    page.get_by_label("Its CSV export").set_input_files(str(FIXTURES / "firstpromoter.csv"))
    page.get_by_role("button", name="Preview the import").click()

    assert page.get_by_role("heading", name="What importing firstpromoter.csv would change").is_visible()
    assert page.locator(".import-new tbody tr").count() == 3
    assert "sam-podcast" in page.locator(".import-new").inner_text()
    assert page.locator(".import-commissions tbody tr").count() == 2
    assert "a reward in free_months, not money" in page.locator(".import-skipped").inner_text()
    screenshot(page, "import-preview")
    assert Affiliate.objects.count() == 1  # only the conftest's own affiliate: the preview wrote nothing

    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(live_server.url + "/affiliates/")
    assert page.get_by_text("Imported from FirstPromoter: 3 new affiliates").is_visible()
    sam = Affiliate.objects.get(merchant=merchant, email="sam@example.com")
    assert Commission.objects.filter(affiliate=sam).count() == 2
    assert page.console_errors == []

    # A visitor through Sam's second FirstPromoter link, on the merchant's own site with the real /t.js.
    shop.goto(shop.site("shop.test", "/pricing?fpr=sam-podcast"))
    rid = ready(shop)
    assert rid and shop.evaluate("Afficone.referral") == rid
    (click,) = stored_clicks()
    assert click.affiliate == sam and click.referral.rid == rid and "fpr=sam-podcast" in click.landing_url
    assert Referral.objects.get(rid=rid).affiliate == sam
    assert shop.errors == [] and shop.console_errors == []
