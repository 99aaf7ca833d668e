"""In real Chromium: a merchant from signup to the first affiliate invited; an affiliate from portal signup through
approval to a commission created by a signed Stripe webhook, and then the payout. Screenshots of the main pages go to
test-artifacts/screenshots/."""

import re

import pytest
from django.core import mail

from affiliates.models import Affiliate, Commission, Payout, Program
from tenants.models import Merchant
from tests.conftest import screenshot, wait_for
from tests.factories import MembershipFactory, MerchantFactory
from tests.stripe_events import checkout_session, make_event, post_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-harbour-lamp-93"


def test_merchant_signs_up_walks_onboarding_and_invites_the_first_affiliate(page, live_server):
    base = live_server.url
    page.goto(base + "/signup/")
    page.get_by_label("Company name").fill("Lumen Studio")
    page.get_by_label("Work email").fill("founder@lumen.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/onboarding/$"))
    merchant = Merchant.objects.get(name="Lumen Studio")

    # The checkout tabs show each kind's code with this merchant's own key.
    assert page.get_by_role("tab", name="Client Checkout").get_attribute("aria-selected") == "true"
    page.get_by_role("tab", name="Server Checkout").click()
    server_panel = page.locator("#panel-server-checkout")
    assert server_panel.is_visible() and not page.locator("#panel-client-checkout").is_visible()
    assert 'customer_creation: "always"' in server_panel.inner_text()
    page.get_by_role("tab", name="Free trials").click()
    assert "_afficoneRef" in page.locator("#panel-free-trials").inner_text()
    page.get_by_role("tab", name="Payment Links").click()
    assert merchant.public_key in page.locator("#panel-payment-links").inner_text()
    page.get_by_role("tab", name="Lead tracking").click()
    leads_panel = page.locator("#panel-leads")
    assert leads_panel.is_visible() and not page.locator("#panel-payment-links").is_visible()
    assert merchant.public_key in leads_panel.inner_text() and "Afficone.signup" in leads_panel.inner_text()
    page.get_by_role("tab", name="Promotion codes").click()
    assert "allow_promotion_codes" in page.locator("#panel-promotion-codes").inner_text()
    screenshot(page, "merchant-onboarding")

    page.get_by_role("button", name="Keep these settings").click()
    page.wait_for_url(re.compile(r"/onboarding/#step-affiliate$"))
    assert Program.objects.get(merchant=merchant).reviewed_at is not None

    form = page.get_by_role("form", name="Invite an affiliate")
    form.get_by_label("Email").fill("first.partner@example.net")
    form.get_by_label("Name").fill("First Partner")
    form.get_by_label("Referral code").fill("first")
    form.get_by_role("button", name="Send invitation").click()
    page.wait_for_load_state()
    assert page.get_by_text("Invited first.partner@example.net with the code first").is_visible()
    affiliate = Affiliate.objects.get(merchant=merchant, code="first")
    assert affiliate.status == "approved" and affiliate.user is None
    wait_for(lambda: any(m.to == ["first.partner@example.net"] for m in mail.outbox))

    page.goto(base + "/dashboard/")
    assert page.get_by_text("Get your program running").is_visible()
    assert page.locator(".checklist li.done").count() == 2  # program reviewed, affiliate invited
    screenshot(page, "merchant-overview-new")
    page.goto(base + "/affiliates/")
    assert page.get_by_role("link", name="First Partner").is_visible()
    screenshot(page, "merchant-affiliates")
    page.goto(base + "/program/")
    page.get_by_label("Percentage of each payment (%)").fill("25")
    page.get_by_role("button", name="Save program").click()
    assert page.get_by_text("Program saved").is_visible()
    assert Program.objects.get(merchant=merchant).commission_bps == 2500
    screenshot(page, "merchant-program")
    page.goto(base + "/settings/")
    screenshot(page, "merchant-settings")
    assert page.console_errors == []


def _log_in_merchant(context, base, email):
    page = context.new_page()
    page.goto(base + "/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-battery-staple")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(dashboard|onboarding)/"))
    return page


def test_affiliate_signs_up_is_approved_earns_from_a_webhook_and_is_paid(page, browser, live_server):
    base = live_server.url
    merchant = MerchantFactory(name="Lumen Studio", slug="lumen", website="https://lumen.test", brand_color="#0e7490")
    from affiliates.services import create_default_program

    create_default_program(merchant)
    owner = MembershipFactory(merchant=merchant, user__email="owner@lumen.test").user

    # 1. The affiliate applies on the public page; the program reviews applications.
    page.goto(f"{base}/p/lumen/join/")
    screenshot(page, "portal-signup")
    page.get_by_label("Your name").fill("Nora Writer")
    page.get_by_label("Email").fill("nora@blog.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Join the program").click()
    page.wait_for_url(re.compile(r"/p/lumen/$"))
    assert page.get_by_text("Your application is being reviewed").is_visible()
    affiliate = Affiliate.objects.get(merchant=merchant, email="nora@blog.test")
    assert affiliate.status == "pending"
    wait_for(lambda: any(m.to == ["owner@lumen.test"] for m in mail.outbox))

    # 2. The merchant approves from the affiliates list.
    merchant_page = _log_in_merchant(browser.new_context(viewport={"width": 1280, "height": 900}), base, owner.email)
    merchant_page.goto(base + "/affiliates/?status=pending")
    merchant_page.get_by_role("row", name=re.compile("Nora Writer")).get_by_role("button", name="Approve").click()
    merchant_page.wait_for_load_state()
    assert merchant_page.get_by_text("is now approved").is_visible()
    wait_for(lambda: any(m.to == ["nora@blog.test"] and "approved" in m.subject for m in mail.outbox))

    page.reload()
    link = page.get_by_role("textbox", name="Your referral link")
    assert link.input_value() == f"https://lumen.test/?ref={affiliate.code}"
    page.get_by_text("Link to a specific page").click()
    page.get_by_label("Page of Lumen Studio's site").fill("https://lumen.test/pricing?plan=pro")
    assert (
        page.get_by_label("Your link to that page").input_value()
        == f"https://lumen.test/pricing?plan=pro&ref={affiliate.code}"
    )

    page.goto(f"{base}/p/lumen/settings/")
    page.get_by_label("PayPal email").fill("nora@paypal.test")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_text("Payout settings saved").is_visible()
    screenshot(page, "portal-settings")

    # 3. A customer pays through Stripe Checkout with the affiliate's reference: a signed webhook, the real view.
    session = checkout_session(client_reference_id=affiliate.code, amount_subtotal=30000, amount_total=30000)
    status, _ = post_event(base, make_event("checkout.session.completed", session, account=merchant.stripe_account_id))
    assert status == 200
    commission = wait_for(lambda: Commission.objects.filter(affiliate=affiliate).first())
    assert (commission.amount, commission.currency, commission.status) == (6000, "usd", "pending")
    page.goto(f"{base}/p/lumen/")
    assert page.get_by_text("$60.00").first.is_visible()
    screenshot(page, "portal-dashboard")
    page.goto(f"{base}/p/lumen/commissions/")
    assert page.get_by_role("row", name=re.compile(r"Pending.*\$300\.00.*\$60\.00")).is_visible()
    screenshot(page, "portal-commissions")

    # 4. The merchant approves the commission, creates a payout batch and marks it paid.
    merchant_page.goto(base + "/commissions/")
    screenshot(merchant_page, "merchant-commissions")
    merchant_page.get_by_role("row", name=re.compile("Nora Writer")).get_by_role("button", name="Approve").click()
    merchant_page.wait_for_load_state()
    commission.refresh_from_db()
    assert commission.status == "approved"
    merchant_page.goto(base + "/payouts/")
    assert "$60.00 to 1 affiliate" in merchant_page.locator(".due-card").inner_text()
    merchant_page.get_by_role("button", name="Create payout batch").click()
    merchant_page.wait_for_load_state()
    payout = Payout.objects.get(affiliate=affiliate)
    assert payout.amount == 6000
    with merchant_page.expect_download() as download:
        merchant_page.get_by_role("link", name="PayPal CSV").click()
    assert download.value.path().read_text().startswith("nora@paypal.test,60.00,USD,")
    merchant_page.get_by_label("Reference").first.fill("PP-7781")
    merchant_page.get_by_role("button", name="Mark paid").click()
    merchant_page.wait_for_load_state()
    screenshot(merchant_page, "merchant-payouts")
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.reference == "PP-7781"
    wait_for(lambda: any(m.to == ["nora@blog.test"] and "payout" in m.subject.lower() for m in mail.outbox))

    page.goto(f"{base}/p/lumen/payouts/")
    assert page.get_by_role("row", name=re.compile(r"Paid.*PP-7781.*\$60\.00")).is_visible()
    screenshot(page, "portal-payouts")

    merchant_page.goto(base + "/dashboard/?period=7d")
    assert merchant_page.locator(".stat", has_text="Commissions paid").get_by_text("$60.00").is_visible()
    merchant_page.wait_for_selector(".chart .u-over")  # uPlot drew the chart
    screenshot(merchant_page, "merchant-overview")
    merchant_page.goto(base + f"/affiliates/{affiliate.public_id}/")
    screenshot(merchant_page, "merchant-affiliate-detail")

    # On a phone: the pages reflow, nothing overflows sideways.
    for p, path, name in (
        (page, "/p/lumen/", "portal-dashboard-mobile"),
        (merchant_page, "/dashboard/", "merchant-overview-mobile"),
    ):
        p.set_viewport_size({"width": 390, "height": 844})
        p.goto(base + path)
        screenshot(p, name)
        wide = p.evaluate(
            """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391).map(e => e.tagName + '.' + e.className).slice(0, 8)"""  # noqa: E501
        )
        assert p.evaluate("document.documentElement.scrollWidth") <= 390, wide
    assert page.console_errors == []
