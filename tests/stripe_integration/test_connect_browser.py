"""Connect with Stripe in real Chromium: the browser goes to the (local) Stripe consent screen and back."""

import pytest
from django.conf import settings
from django.test import Client

from tenants.models import Merchant

from ..conftest import screenshot
from ..factories import MembershipFactory, MerchantFactory


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_merchant_connects_and_disconnects_stripe_in_the_browser(live_server, page, fake_stripe):
    shop = MerchantFactory(
        name="Northwind",
        stripe_account_id=None,
        stripe_status=Merchant.StripeStatus.NOT_CONNECTED,
        stripe_connected_at=None,
    )
    owner = MembershipFactory(merchant=shop).user
    client = Client()
    client.force_login(owner)
    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_id, "url": live_server.url}])
    fake_stripe.add_account("acct_1NorthwindAAAA", name="Northwind Traders LLC", display_name="Northwind")
    fake_stripe.authorize_as("acct_1NorthwindAAAA")

    page.goto(live_server.url + "/stripe/")
    assert page.locator(".stripe-connection .badge").inner_text() == "Not connected"
    screenshot(page, "stripe-not-connected")
    page.get_by_role("button", name="Connect with Stripe").click()  # to Stripe's consent screen and back
    page.wait_for_url(live_server.url + "/stripe/")

    assert page.get_by_role("status").inner_text() == "Connected to the Stripe account Northwind."
    assert page.locator(".stripe-connection .badge").inner_text() == "Connected"
    assert "acct_1NorthwindAAAA" in page.locator(".stripe-connection").inner_text()
    screenshot(page, "stripe-connected")
    shop.refresh_from_db()
    assert (shop.stripe_account_id, shop.stripe_status) == ("acct_1NorthwindAAAA", Merchant.StripeStatus.CONNECTED)

    page.get_by_role("button", name="Disconnect Stripe").click()
    page.wait_for_selector("[data-stripe-status=disconnected]")

    assert page.get_by_role("button", name="Reconnect Stripe").is_visible()
    shop.refresh_from_db()
    assert shop.stripe_status == Merchant.StripeStatus.DISCONNECTED
    assert [r.form["stripe_user_id"] for r in fake_stripe.requests_to("/oauth/deauthorize")] == ["acct_1NorthwindAAAA"]
    assert page.console_errors == []
