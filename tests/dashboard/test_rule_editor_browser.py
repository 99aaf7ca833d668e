"""In real Chromium: a merchant creates a program, writes its rules in the editor (a row filled in, one added and
moved up by the page's script), saves them and previews what a payment earns. Screenshot: merchant-rule-editor."""

import re

import pytest

from affiliates.models import Program
from tests.conftest import screenshot
from tests.factories import PASSWORD, AffiliateFactory, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_merchant_writes_reorders_saves_and_previews_rules(page, live_server, merchant):
    owner = MembershipFactory(merchant=merchant).user
    AffiliateFactory(merchant=merchant, program=merchant.programs.get(is_default=True), code="maya", name="Maya")
    base = live_server.url
    page.goto(base + "/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(dashboard|onboarding)/"))

    page.goto(base + "/programs/")
    page.get_by_role("link", name="New program").click()
    page.get_by_label("Program name").fill("Summer launch")
    first = page.locator("[data-rule-row]").nth(0)
    first.locator("[name='rules-0-value']").fill("prod_pro")
    first.locator("[name='rules-0-percent']").fill("30")
    first.locator("[name='rules-0-label']").fill("Pro")
    assert not first.locator("[name='rules-0-amount']").is_visible()  # only the chosen kind of pay is shown
    page.get_by_role("button", name="Add a rule").click()
    second = page.locator("[data-rule-row]").nth(1)
    second.locator("[name='rules-1-when']").select_option("price")
    second.locator("[name='rules-1-value']").fill("price_basic")
    second.locator("[name='rules-1-pay']").select_option("fixed")
    second.locator("[name='rules-1-amount']").fill("5")
    second.get_by_role("button", name="Move up").click()
    assert page.locator("[data-rule-row]").nth(0).locator("[name='rules-1-value']").input_value() == "price_basic"
    page.get_by_role("button", name="Save program").click()
    assert page.get_by_text("Program saved").is_visible()

    program = Program.objects.get(merchant=merchant, name="Summer launch")
    assert program.rules == [
        {"match": {"price": "price_basic"}, "commission": {"type": "fixed", "amount": 500, "currency": "usd"}},
        {"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro"},
    ]

    page.get_by_label("Affiliate", exact=True).fill("maya")
    page.get_by_label("Product", exact=True).fill("prod_pro")
    page.get_by_label("Amount paid (tax excluded)").fill("49")
    page.get_by_role("button", name="Preview").click()
    result = page.get_by_role("status")
    assert result.inner_text() == (
        "A $49.00 payment for Pro by Maya earns $14.70 because of rule 2 (Pro: product prod_pro → 30%)."
    )
    screenshot(page, "merchant-rule-editor")
    assert page.console_errors == []
