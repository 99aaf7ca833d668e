"""Two-tier in the merchant's hands: the program's page and `programs` in the API turn it on with the parent's
share; the affiliate's page shows and sets whom an affiliate was referred by (same merchant, never itself)."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from affiliates.models import Program
from affiliates.services import default_program, set_parent
from tenants.services import create_api_key
from tests.factories import AffiliateFactory

pytestmark = pytest.mark.django_db

SETTINGS = {
    "name": "Partners",
    "slug": "partners",
    "commission_type": "percent",
    "commission_percent": "20",
    "commission_amount": "",
    "commission_currency": "usd",
    "recurring": "months",
    "recurring_months": "12",
    "cookie_days": "60",
    "hold_days": "30",
    "min_payout": "50",
    "attribution": "last_click",
    "signup_open": "on",
}


def affiliate_page(affiliate) -> str:
    return reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id})


def parent_url(affiliate) -> str:
    return reverse("affiliates:affiliate_parent", kwargs={"uid": affiliate.public_id})


@pytest.fixture
def pair(merchant):
    program = default_program(merchant)
    maya = AffiliateFactory(merchant=merchant, program=program, code="maya", name="Maya")
    sam = AffiliateFactory(merchant=merchant, program=program, code="sam", name="Sam")
    return maya, sam


# --- the program's page and the API ------------------------------------------------------------------------------


def test_the_program_page_turns_two_tier_on_with_the_recruiters_share(merchant_client, merchant):
    program = default_program(merchant)
    page = reverse("affiliates:program_edit", kwargs={"code": program.public_id})
    body = merchant_client.get(page).content.decode()
    assert "Two-tier" in body and 'name="two_tier_percent"' in body and 'value="10"' in body

    response = merchant_client.post(page, {**SETTINGS, "two_tier": "on", "two_tier_percent": "12.5"})
    assert response.status_code == 302
    program.refresh_from_db()
    assert (program.two_tier, program.two_tier_bps) == (True, 1250)

    response = merchant_client.post(page, {**SETTINGS, "two_tier": "on", "two_tier_percent": "120"})
    assert response.status_code == 400 and "between 0 and 100" in response.content.decode()
    response = merchant_client.post(page, {**SETTINGS, "two_tier": "on", "two_tier_percent": ""})
    assert response.status_code == 400 and "Enter the recruiter" in response.content.decode()
    program.refresh_from_db()
    assert (program.two_tier, program.two_tier_bps) == (True, 1250)

    assert merchant_client.post(page, {**SETTINGS, "two_tier_percent": "12.5"}).status_code == 302
    program.refresh_from_db()
    assert (program.two_tier, program.two_tier_bps) == (False, 1250)


def test_the_programs_api_reads_and_writes_two_tier(merchant, other_merchant):
    key = create_api_key(merchant, name="Backend")[1]
    headers = {"Authorization": f"Bearer {key}"}
    client = Client()

    def patch(path: str, body: dict):
        return client.patch(path, json.dumps(body), content_type="application/json", headers=headers)

    program = default_program(merchant)
    path = f"/api/v1/programs/{program.public_id}"
    body = client.get(path, headers=headers).json()
    assert (body["two_tier"], body["two_tier_bps"]) == (False, 1000)

    response = patch(path, {"two_tier": True, "two_tier_bps": 1500})
    assert response.status_code == 200, response.content
    assert (response.json()["two_tier"], response.json()["two_tier_bps"]) == (True, 1500)
    program.refresh_from_db()
    assert (program.two_tier, program.two_tier_bps) == (True, 1500)

    response = patch(path, {"two_tier_bps": 10001})
    assert response.status_code == 400 and response.json()["error"]["field"] == "two_tier_bps"
    created = client.post(
        "/api/v1/programs",
        json.dumps({"name": "Recruiters", "two_tier": True, "two_tier_bps": 500}),
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 201 and (created.json()["two_tier"], created.json()["two_tier_bps"]) == (True, 500)
    assert Program.objects.get(public_id=created.json()["id"]).two_tier_bps == 500
    program.refresh_from_db()
    assert program.two_tier_bps == 1500

    theirs = default_program(other_merchant)
    response = patch(f"/api/v1/programs/{theirs.public_id}", {"two_tier": True})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.two_tier is False


# --- the affiliate's page ------------------------------------------------------------------------------------------


def test_the_affiliate_page_shows_and_sets_who_referred_the_affiliate(merchant_client, merchant, pair):
    maya, sam = pair
    assert "No referring affiliate." in merchant_client.get(affiliate_page(sam)).content.decode()

    response = merchant_client.post(parent_url(sam), {"parent": "MAYA"})
    assert response.status_code == 302
    sam.refresh_from_db()
    assert sam.parent == maya
    body = merchant_client.get(affiliate_page(sam)).content.decode()
    assert "Referred by <a" in body and "Maya</a>" in body and "not two-tier: no share" in body
    assert f'href="{affiliate_page(sam)}">Sam</a>' in merchant_client.get(affiliate_page(maya)).content.decode()

    Program.objects.filter(pk=default_program(merchant).pk).update(two_tier=True, two_tier_bps=1000)
    body = merchant_client.get(affiliate_page(sam)).content.decode()
    assert "who earns 10% of this affiliate's commissions (two-tier)" in body

    assert merchant_client.post(parent_url(sam), {"parent": ""}).status_code == 302
    sam.refresh_from_db()
    assert sam.parent is None


def test_the_parent_is_never_itself_its_own_sub_affiliate_or_another_merchants(
    merchant_client, merchant, other_merchant, pair
):
    maya, sam = pair
    set_parent(sam, maya)
    theirs = AffiliateFactory(merchant=other_merchant, program=default_program(other_merchant), code="theirs")
    for text, message in (
        ("maya", "cannot be its own parent"),
        ("sam", "cannot be its parent too"),
        ("theirs", "No affiliate has the code or email"),
        ("nobody@example.net", "No affiliate has the code or email"),
    ):
        response = merchant_client.post(parent_url(maya), {"parent": text}, follow=True)
        assert message in response.content.decode(), text
        maya.refresh_from_db()
        assert maya.parent is None
    assert merchant_client.post(parent_url(theirs), {"parent": "maya"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.parent is None
