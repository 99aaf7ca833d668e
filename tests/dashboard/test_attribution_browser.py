"""In real Chromium: on an affiliate's page the merchant adds a promotion code of its Stripe account, finds a Stripe
customer by email, attributes them, and reads what their past payments earned (tests/fake_stripe/ plays Stripe)."""

import pytest
from django.conf import settings
from django.test import Client

from affiliates.models import Commission, Referral
from stripe_integration.models import PromotionCode
from tests.conftest import screenshot, wait_for
from tests.factories import AffiliateFactory, MembershipFactory
from tests.stripe_events import charge, customer, new_id, promotion_code


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_merchant_adds_a_code_and_attributes_a_customer_in_the_browser(live_server, page, fake_stripe, merchant):
    owner = MembershipFactory(merchant=merchant).user
    client = Client()
    client.force_login(owner)
    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_id, "url": live_server.url}])
    maya = AffiliateFactory(merchant=merchant, program=merchant.programs.get(), name="Maya Lopez", code="maya")
    account = merchant.stripe_account_id
    fake_stripe.put(promotion_code(code="MAYA20"), account=account)
    dana = fake_stripe.put(customer(email="dana@example.org", name="Dana Scully"), account=account)
    for amount in (4000, 6000):
        fake_stripe.put(charge(customer=dana["id"], payment_intent=new_id("pi"), amount=amount), account=account)

    page.goto(f"{live_server.url}/affiliates/{maya.public_id}/")
    codes = page.get_by_role("form", name="Add a promotion code")
    codes.get_by_label("Promotion code").fill("maya20")
    codes.get_by_role("button", name="Add code").click()
    page.wait_for_load_state()
    assert page.get_by_text("Payments with the promotion code MAYA20 now earn for").is_visible()
    assert page.locator("#promotion-codes code", has_text="MAYA20").is_visible()
    assert PromotionCode.objects.for_merchant(merchant).get().affiliate == maya

    search = page.get_by_role("search", name="Find a Stripe customer")
    search.get_by_label("Stripe customer id or email").fill("dana@example.org")
    search.get_by_role("button", name="Find customer").click()
    page.wait_for_load_state()
    row = page.locator("tr", has_text=dana["id"])
    assert "Dana Scully" in row.inner_text()
    screenshot(page, "merchant-attribute-customer-search")
    page.once("dialog", lambda dialog: dialog.accept())  # "the binding is permanent"
    row.get_by_role("button", name="Attribute").click()
    page.wait_for_url(f"{live_server.url}/affiliates/{maya.public_id}/#attributed")
    wait_for(lambda: Commission.objects.for_merchant(merchant).count() == 2)
    page.reload()
    result = page.locator("#attributed .backfill-result")
    assert result.inner_text() == "2 payments credited, $20.00"
    assert Referral.objects.get(stripe_customer_id=dana["id"]).source == Referral.Source.MANUAL
    screenshot(page, "merchant-affiliate-attribution")
    assert page.console_errors == []
