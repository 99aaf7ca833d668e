"""`promotion_codes` on affiliates: assigned by the code customers type or by its `promo_` id, looked up in the
merchant's Stripe account (tests/fake_stripe/ through the real StripeClient); unknown 400, held by another 409."""

import pytest

from stripe_integration.models import PromotionCode
from tests.factories import AffiliateFactory
from tests.stripe_events import coupon, promotion_code

from .conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def maya20(fake_stripe, merchant):
    """MAYA20 in the merchant's Stripe account, for a 20% coupon."""
    twenty = fake_stripe.put(coupon(), account=merchant.stripe_account_id)
    return fake_stripe.put(promotion_code(code="MAYA20", coupon=twenty["id"]), account=merchant.stripe_account_id)


def test_an_affiliate_created_with_a_code_holds_it(api, merchant, fake_stripe, maya20):
    response = api.post("/api/v1/affiliates", {"email": "maya@example.net", "promotion_codes": ["maya20"]})
    assert response.status_code == 201, response.content
    assert response.json()["promotion_codes"] == [{"id": maya20["id"], "code": "MAYA20"}]
    [row] = PromotionCode.objects.for_merchant(merchant)
    assert (row.affiliate.email, row.stripe_id, row.code) == ("maya@example.net", maya20["id"], "MAYA20")
    assert row.coupon_id == maya20["promotion"]["coupon"]
    [lookup] = fake_stripe.requests_to("/v1/promotion_codes", "GET")
    assert lookup.stripe_account == merchant.stripe_account_id and lookup.query["code"] == "maya20"
    listed = api.get("/api/v1/affiliates", {"code": response.json()["code"]}).json()["results"]
    assert listed[0]["promotion_codes"] == [{"id": maya20["id"], "code": "MAYA20"}]


def test_codes_are_assigned_by_id_replaced_and_removed_with_patch(api, merchant, affiliate, fake_stripe, maya20):
    other = fake_stripe.put(promotion_code(code="ALICE10"), account=merchant.stripe_account_id)
    path = f"/api/v1/affiliates/{affiliate.public_id}"
    response = api.patch(path, {"promotion_codes": [maya20["id"], {"code": "ALICE10"}]})
    assert response.status_code == 200, response.content
    assert sorted(c["code"] for c in response.json()["promotion_codes"]) == ["ALICE10", "MAYA20"]
    assert fake_stripe.requests_to(f"/v1/promotion_codes/{maya20['id']}", "GET")
    # The output's own objects can be sent back: the same set, nothing changes.
    again = api.patch(path, {"promotion_codes": response.json()["promotion_codes"]})
    assert again.json()["promotion_codes"] == response.json()["promotion_codes"]
    assert api.patch(path, {"promotion_codes": [other["id"]]}).json()["promotion_codes"] == [
        {"id": other["id"], "code": "ALICE10"}
    ]
    assert api.patch(path, {"promotion_codes": []}).json()["promotion_codes"] == []
    assert not PromotionCode.objects.for_merchant(merchant).exists()


def test_an_unknown_code_is_400_and_creates_nothing(api, merchant, affiliate, fake_stripe, maya20):
    response = api.post("/api/v1/affiliates", {"email": "new@example.net", "promotion_codes": ["MAYA20", "NOPE"]})
    error = assert_error(response, 400, code="unknown_promotion_code", field="promotion_codes")
    assert "NOPE" in error["message"]
    assert not merchant.affiliates.filter(email="new@example.net").exists()
    assert_error(
        api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"promotion_codes": ["promo_missing"]}),
        400,
        code="unknown_promotion_code",
        field="promotion_codes",
    )
    assert not PromotionCode.objects.for_merchant(merchant).exists()


def test_a_code_of_another_stripe_account_is_unknown(api, merchant, other_merchant, affiliate, fake_stripe):
    theirs = fake_stripe.put(promotion_code(code="GLOBEX"), account=other_merchant.stripe_account_id)
    for text in ("GLOBEX", theirs["id"]):
        response = api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"promotion_codes": [text]})
        assert_error(response, 400, code="unknown_promotion_code", field="promotion_codes")


def test_a_code_held_by_another_affiliate_is_409(api, merchant, affiliate, fake_stripe, maya20):
    bob = AffiliateFactory(merchant=merchant, program=affiliate.program, code="bob")
    assert api.patch(f"/api/v1/affiliates/{bob.public_id}", {"promotion_codes": ["MAYA20"]}).status_code == 200
    response = api.patch(
        f"/api/v1/affiliates/{affiliate.public_id}", {"name": "Renamed", "promotion_codes": [maya20["id"]]}
    )
    error = assert_error(response, 409, code="promotion_code_taken", field="promotion_codes")
    assert "bob" in error["message"]
    affiliate.refresh_from_db()
    assert affiliate.name != "Renamed"  # all or nothing
    assert [row.affiliate for row in PromotionCode.objects.for_merchant(merchant)] == [bob]


def test_another_tenants_affiliate_is_404(api, other_merchant, fake_stripe, maya20):
    theirs = AffiliateFactory(merchant=other_merchant, code="theirs")
    response = api.patch(f"/api/v1/affiliates/{theirs.public_id}", {"promotion_codes": ["MAYA20"]})
    assert_error(response, 404, code="not_found")
    assert not fake_stripe.requests_to("/v1/promotion_codes")
    assert not PromotionCode.objects.exists()


def test_malformed_codes_are_400_before_asking_stripe(api, affiliate, fake_stripe):
    for body in ({"promotion_codes": "MAYA20"}, {"promotion_codes": [5]}, {"promotion_codes": [""]}):
        response = api.patch(f"/api/v1/affiliates/{affiliate.public_id}", body)
        assert_error(response, 400, field="promotion_codes")
    assert fake_stripe.requests == []


def test_stripe_unreachable_is_502_and_changes_nothing(api, merchant, affiliate, fake_stripe, maya20):
    fake_stripe.fail("/v1/promotion_codes", status=500, should_retry=False)
    response = api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"promotion_codes": ["MAYA20"]})
    assert_error(response, 502, code="stripe_unavailable", field="promotion_codes")
    assert not PromotionCode.objects.exists()


def test_a_merchant_without_stripe_cannot_assign_codes(api, merchant, affiliate, fake_stripe):
    merchant.stripe_status = merchant.StripeStatus.DISCONNECTED
    merchant.save(update_fields=["stripe_status"])
    response = api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"promotion_codes": ["MAYA20"]})
    assert_error(response, 409, code="stripe_not_connected", field="promotion_codes")
    assert fake_stripe.requests == []
