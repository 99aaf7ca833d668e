"""JSON nested deeper than the decoder can follow is bad input on every write of the API: 400 in the error shape,
nothing changed (the REST API parses with afficone.jsonbody.SafeJSONParser)."""

import pytest

from affiliates.models import Affiliate, Commission, Payout, Program, Referral
from tenants.models import IdempotencyKey

from .conftest import assert_error, seed_tenant

DEPTH = 5000  # Python's decoder gives up at about 1,000


def snapshot(merchant) -> dict:
    return {
        model.__name__: sorted(map(repr, model.objects.for_merchant(merchant).values().order_by("pk")))
        for model in (Affiliate, Referral, Commission, Payout, Program, IdempotencyKey)
    }


def bodies() -> dict[str, str]:
    deep_list, deep_object = "[" * DEPTH + "]" * DEPTH, '{"a":' * DEPTH + "1" + "}" * DEPTH
    return {
        "whole body": deep_list,
        "a field": '{"email": "deep@example.com", "name": ' + deep_list + "}",
        "an object field": '{"commission_override": ' + deep_object + "}",
    }


def writes(t: dict) -> list[tuple[str, str]]:
    sale = t["conversion"].source_id.removeprefix("conv_")
    return [
        ("post", "/api/v1/affiliates"),
        ("patch", f"/api/v1/affiliates/{t['affiliate'].public_id}"),
        ("patch", f"/api/v1/programs/{t['program'].public_id}"),
        ("post", f"/api/v1/commissions/{t['commission'].public_id}/void"),
        ("post", f"/api/v1/payouts/{t['payout'].public_id}/mark-paid"),
        ("post", "/api/v1/conversions"),
        ("post", f"/api/v1/conversions/{sale}/refund"),
    ]


@pytest.mark.parametrize("shape", sorted(bodies()))
def test_deeply_nested_json_is_a_400_and_changes_nothing(api, merchant, shape):
    mine = seed_tenant(merchant, code="deep", email="deep-partner@example.com")
    before = snapshot(merchant)
    for method, path in writes(mine):
        response = api.client.generic(
            method.upper(),
            path,
            bodies()[shape],
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.raw_key}", "Idempotency-Key": f"deep-{method}-{path}"},
        )
        error = assert_error(response, 400, code="parse_error")
        assert "nested too deeply" in error["message"], (method, path)
    assert snapshot(merchant) == before
