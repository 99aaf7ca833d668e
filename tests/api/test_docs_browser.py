"""The interactive API documentation works in real Chromium from our own static files alone."""

from urllib.parse import urlsplit

import pytest

from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_every_operation_offline(live_server, page):
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".opblock", timeout=15000)
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/conversions" in summaries
    assert "/api/v1/conversions/{id}/refund" in summaries
    schema = page.request.get(f"{live_server.url}/api/v1/schema/").json()
    operations = [(method, path) for path, item in schema["paths"].items() for method in item]
    assert len(summaries) == len(operations) == 31  # every operation of the schema
    assert page.get_by_role("button", name="Authorize").is_visible()  # the bearer scheme
    assert hosts == {urlsplit(live_server.url).netloc}  # nothing fetched from anywhere else
    assert not page.console_errors
    screenshot(page, "api-docs")
