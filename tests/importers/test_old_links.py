"""An imported affiliate's old links keep earning: ?via= (Rewardful) and ?fpr= (FirstPromoter) codes reach the
affiliate through the real click endpoint, and a payment naming an old code credits them too."""

import json

import pytest

from affiliates.models import Affiliate, Referral
from tests.factories import AffiliateFactory
from tracking.models import Click

pytestmark = pytest.mark.django_db

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@pytest.fixture
def imported(merchant, run_import, settings):
    settings.TRACKING_BUFFER = False  # clicks written in the request, as in the embedded default
    for platform in ("rewardful", "firstpromoter"):
        ok, out, _ = run_import(merchant, platform, f"{platform}.csv")
        assert ok, out
    return {a.email: a for a in Affiliate.objects.for_merchant(merchant)}


def click(client, merchant, code: str, parameter: str):
    body = {
        "k": merchant.public_key,
        "c": code,
        "u": f"https://shop.example/pricing?{parameter}={code}",
        "r": "",
        "p": None,
    }
    return client.post(
        "/api/track/click", json.dumps(body), content_type="text/plain;charset=UTF-8", HTTP_USER_AGENT=BROWSER_UA
    )


@pytest.mark.parametrize(
    "code, parameter, email",
    [
        ("maya", "via", "maya@example.com"),  # the affiliate's code here
        ("maya-blog", "via", "maya@example.com"),  # its second Rewardful link: a legacy code
        ("MAYA-Blog", "via", "maya@example.com"),  # as codes are, without case
        ("sam12", "fpr", "sam@example.com"),
        ("sam-podcast", "fpr", "sam@example.com"),
    ],
)
def test_an_old_link_is_credited_to_the_imported_affiliate(client, merchant, imported, code, parameter, email):
    response = click(client, merchant, code, parameter)

    assert response.status_code == 200, response.content
    referral = Referral.objects.get(rid=response.json()["referral"])
    assert referral.affiliate == imported[email] and referral.source == "click"
    stored = Click.objects.get()
    assert stored.affiliate == imported[email] and stored.landing_url.endswith(f"?{parameter}={code}")


def test_old_codes_of_a_suspended_affiliate_or_another_merchant_count_for_nobody(
    client, merchant, other_merchant, imported
):
    # Priya was disabled on Rewardful: suspended here, so her link earns nothing.
    assert click(client, merchant, "priya", "via").status_code == 404
    # Another merchant's visitors with the same old code: refused the same way, nothing stored.
    AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get(), code="someone")
    response = click(client, other_merchant, "maya-blog", "via")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_code"
    assert Click.objects.count() == 0


def test_a_payment_naming_an_old_code_credits_the_affiliate(api, merchant, imported):
    response = api.post(
        "/api/v1/conversions", {"id": "order-77", "referral": "sam-podcast", "amount": 10000, "currency": "usd"}
    )

    assert response.status_code == 201, response.content
    assert response.json()["affiliate"] == str(imported["sam@example.com"].public_id)
    assert response.json()["commission"]["amount"] == 2000  # the program's 20%


def test_an_old_code_cannot_be_given_to_another_affiliate(api, merchant, imported):
    response = api.post("/api/v1/affiliates", {"email": "new@example.com", "code": "Maya-Blog"})

    assert response.status_code == 409  # taken, as another affiliate's code would be
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == ("unique", "code")
    assert not Affiliate.objects.filter(email="new@example.com").exists()
