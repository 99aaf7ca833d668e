"""In real Chromium: add a webhook endpoint, copy its secret, watch a failed delivery and resend it."""

import re

import pytest

from affiliates.services import create_affiliate
from tests.conftest import screenshot
from tests.factories import PASSWORD
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_an_endpoint_see_a_failed_delivery_and_resend_it(page, live_server, merchant, owner, receiver):
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/dashboard/"))

    page.goto(live_server.url + "/settings/")
    page.get_by_role("link", name="Webhooks").click()
    page.wait_for_url(re.compile(r"/settings/webhooks/$"))
    assert page.get_by_text("No webhook endpoints yet").is_visible()
    page.get_by_label("Endpoint URL").fill(receiver.url + "/hooks")
    page.get_by_role("checkbox", name=re.compile("affiliate.created")).check()
    page.get_by_role("checkbox", name=re.compile("payout.paid")).check()
    page.get_by_role("button", name="Add endpoint").click()

    page.wait_for_url(re.compile(r"/secret/$"))
    endpoint = WebhookEndpoint.objects.get(merchant=merchant)
    assert page.locator("#webhook-secret").input_value() == endpoint.secret
    assert endpoint.events == ["affiliate.created", "payout.paid"]
    screenshot(page, "webhooks-secret")
    page.get_by_role("link", name="I have saved it").click()
    page.wait_for_url(re.compile(rf"/settings/webhooks/{endpoint.public_id}/$"))
    assert endpoint.secret not in page.content()

    receiver.answer((500, "maintenance"))
    create_affiliate(merchant, email="maya@example.com", code="maya")
    page.reload()
    page.get_by_role("link", name="affiliate.created").click()
    assert page.get_by_text("HTTP 500").is_visible() and page.get_by_text("maintenance").is_visible()
    page.get_by_role("button", name="Resend").click()
    assert page.get_by_text("is being sent again").is_visible()
    assert page.get_by_text("HTTP 200").is_visible()
    screenshot(page, "webhooks-delivery")
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == "succeeded"
    [first, second] = receiver.requests
    second.verified(endpoint.secret)
    assert not page.console_errors
