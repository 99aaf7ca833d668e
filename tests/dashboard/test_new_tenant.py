"""A new merchant's dashboard works from the first minute: created through the signup form or `createmerchant` on a
database that holds nothing but its migrations (no seed_demo), every page of the dashboard and its settings answers
200, and so do the portal's public pages and the downloads."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from affiliates.models import Affiliate, Commission, Program
from tenants.models import Merchant

pytestmark = pytest.mark.django_db

PASSWORD = "plum-kettle-orbit-47"
# Every page a merchant's owner reaches from the dashboard's navigation and settings.
PAGES = [
    "affiliates:overview",
    "affiliates:onboarding",
    "affiliates:affiliate_list",
    "affiliates:commission_list",
    "affiliates:payout_list",
    "affiliates:programs",
    "affiliates:settings",
    "tenants:provider",
    "tenants:team",
    "tenants:api_keys",
    "tenants:branding",
    "stripe_integration:connection",
]
QUERIES = ["", "?period=7d", "?period=12m", "?period=all", "?from=2020-01-01&to=2020-12-31"]


def assert_every_page_works(client, merchant: Merchant) -> None:
    for name in PAGES:
        for query in QUERIES if name in ("affiliates:overview", "affiliates:affiliate_list") else [""]:
            response = client.get(reverse(name) + query)
            assert response.status_code == 200, (name, query, response.status_code)
            assert merchant.name.encode() in response.content, (name, query)
    for name in ("affiliates:affiliate_list", "affiliates:commission_list"):
        response = client.get(reverse(name) + "?format=csv")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        assert len(b"".join(response.streaming_content).splitlines()) == 1  # the header, no rows yet
    for name in ("affiliates:portal_signup", "affiliates:portal_login"):
        response = client.get(reverse(name, kwargs={"slug": merchant.slug}))
        assert response.status_code == 200, name
    # The default program of DESIGN.md, and nothing else yet.
    program = Program.objects.get(merchant=merchant)
    assert (program.is_default, program.commission_bps, program.recurring_months, program.cookie_days) == (
        True,
        2000,
        12,
        60,
    )
    assert program.hold_days == 30
    assert not Affiliate.objects.for_merchant(merchant).exists()
    assert not Commission.objects.for_merchant(merchant).exists()


def test_a_merchant_who_signs_up_on_an_empty_database_gets_every_dashboard_page(client):
    assert not Merchant.objects.exists()  # nothing but what the migrations made
    response = client.post(
        reverse("tenants:signup"), {"company": "Fresh Roasters", "email": "owner@fresh.test", "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("affiliates:onboarding")
    merchant = Merchant.objects.get()
    assert_every_page_works(client, merchant)


def test_a_merchant_made_by_createmerchant_on_an_empty_database_gets_every_dashboard_page(client):
    assert not Merchant.objects.exists()
    out = io.StringIO()
    call_command("createmerchant", "--email", "ops@cli.test", "--name", "Cli Goods", "--password", PASSWORD, stdout=out)
    merchant = Merchant.objects.get(public_id=json.loads(out.getvalue())["id"])
    response = client.post(reverse("tenants:login"), {"username": "ops@cli.test", "password": PASSWORD})
    assert response.status_code == 302
    assert_every_page_works(client, merchant)
