"""Every route tried with another merchant's ids answers 404 in the error shape and changes nothing."""

import pytest

from affiliates.models import Affiliate, Commission, Payout, Program, Referral
from tenants.models import IdempotencyKey

from .conftest import assert_error, seed_tenant


def snapshot(merchant) -> dict:
    """Every API-visible row of `merchant`, as plain values."""
    return {
        model.__name__: sorted(map(repr, model.objects.for_merchant(merchant).values().order_by("pk")))
        for model in (Affiliate, Referral, Commission, Payout, Program, IdempotencyKey)
    }


@pytest.fixture
def theirs(other_merchant):
    return seed_tenant(other_merchant, code="globex-partner", email="partner@globex.example")


@pytest.fixture
def mine(merchant):
    return seed_tenant(merchant, code="acme-partner", email="partner@acme.example")


def routes(t: dict) -> list[tuple[str, str, dict | None]]:
    """(method, path, body) for every API route that names an object, with `t`'s ids."""
    affiliate, referral, commission = t["affiliate"].public_id, t["referral"].rid, t["commission"].public_id
    payout, program, sale = (
        t["payout"].public_id,
        t["program"].public_id,
        t["conversion"].source_id.removeprefix("conv_"),
    )
    return [
        ("get", f"/api/v1/affiliates/{affiliate}", None),
        ("patch", f"/api/v1/affiliates/{affiliate}", {"name": "Hijacked", "status": "suspended"}),
        ("get", f"/api/v1/referrals/{referral}", None),
        ("get", f"/api/v1/commissions/{commission}", None),
        ("post", f"/api/v1/commissions/{commission}/approve", {}),
        ("post", f"/api/v1/commissions/{commission}/void", {"reason": "Hijacked"}),
        ("get", f"/api/v1/payouts/{payout}", None),
        ("post", f"/api/v1/payouts/{payout}/mark-paid", {"reference": "Hijacked"}),
        ("get", f"/api/v1/programs/{program}", None),
        ("patch", f"/api/v1/programs/{program}", {"commission_bps": 10000}),
        ("get", f"/api/v1/conversions/{sale}", None),
        ("post", f"/api/v1/conversions/{sale}/refund", {}),
    ]


def test_every_route_with_another_merchants_ids_is_404_and_changes_nothing(api, mine, theirs, other_merchant):
    before = snapshot(other_merchant)
    for method, path, body in routes(theirs):
        args = (path, body) if method != "get" else (path,)
        response = getattr(api, method)(
            *args, headers={"Idempotency-Key": f"k-{method}-{path}"} if method == "post" else None
        )
        assert_error(response, 404, code="not_found")
    assert snapshot(other_merchant) == before


def test_the_same_routes_work_with_the_merchants_own_ids(api, mine):
    """The control for the test above: the 404s come from scoping, not from broken routes."""
    for method, path, body in routes(mine):
        args = (path, body) if method != "get" else (path,)
        response = getattr(api, method)(*args)
        assert response.status_code in (200, 409), (method, path, response.content)


def test_another_merchants_ids_in_bodies_and_filters_are_unknown(api, merchant, mine, theirs, other_merchant):
    before = snapshot(other_merchant)
    mine_before = snapshot(merchant)
    other_affiliate = str(theirs["affiliate"].public_id)
    for resource in ("commissions", "referrals", "payouts"):
        response = api.get(f"/api/v1/{resource}", {"affiliate": other_affiliate})
        assert response.status_code == 200
        assert response.json()["results"] == [], resource
    assert_error(
        api.post("/api/v1/affiliates", {"email": "new@acme.example", "program": str(theirs["program"].public_id)}),
        404,
        code="not_found",
        field="program",
    )
    for reference in (theirs["referral"].rid, theirs["affiliate"].code):
        response = api.post(
            "/api/v1/conversions", {"id": "order-x", "referral": reference, "amount": 1000, "currency": "usd"}
        )
        assert_error(response, 404, code="not_found", field="referral")
    assert snapshot(other_merchant) == before
    assert snapshot(merchant) == mine_before


def test_lists_hold_only_the_merchants_own_rows(api, mine, theirs):
    expected = {
        "affiliates": {str(mine["affiliate"].public_id)},
        "referrals": {mine["referral"].rid},
        "commissions": {str(c.public_id) for c in Commission.objects.filter(affiliate=mine["affiliate"])},
        "payouts": {str(mine["payout"].public_id)},
        "programs": {str(mine["program"].public_id)},
        "conversions": {"order-acme-partner"},
    }
    for resource, ids in expected.items():
        response = api.get(f"/api/v1/{resource}")
        assert response.status_code == 200
        assert {row["id"] for row in response.json()["results"]} == ids, resource
