"""Text the database or the JSON answer cannot carry is bad input like any other: a NUL in an id of the URL is an id
no row has (404), and a lone surrogate quoted back in an error message reads as "?" (400), both in the error shape
and changing nothing (api/base.py; tests/test_fuzz.py sends many more such inputs and asserts no 5xx)."""

import json

import pytest

from .conftest import assert_error, seed_tenant
from .test_deep_json import snapshot

LONE_SURROGATE = "x\ud800y"


@pytest.fixture
def tenant(merchant):
    return seed_tenant(merchant, code="text", email="text-partner@example.com")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/referrals/x%00y"),
        ("get", "/api/v1/conversions/x%00y"),
        ("post", "/api/v1/conversions/x%00y/refund"),
        ("get", "/api/v1/affiliates/x%00y"),
    ],
)
def test_an_id_holding_a_nul_is_no_such_object(api, merchant, tenant, method, path):
    before = snapshot(merchant)
    response = getattr(api, method)(path)
    error = assert_error(response, 404, code="not_found")
    assert "with this id" in error["message"]
    assert snapshot(merchant) == before


def writes(t: dict) -> list[tuple[str, str, dict, str]]:
    """(method, path, body, the field the error names)"""
    return [
        ("patch", f"/api/v1/affiliates/{t['affiliate'].public_id}", {"status": LONE_SURROGATE}, "status"),
        ("patch", f"/api/v1/programs/{t['program'].public_id}", {"commission_type": LONE_SURROGATE}, "commission_type"),
        ("patch", f"/api/v1/programs/{t['program'].public_id}", {"attribution": LONE_SURROGATE}, "attribution"),
        ("post", "/api/v1/affiliates", {"email": "new@example.com", "program": LONE_SURROGATE}, "program"),
        (
            "post",
            "/api/v1/webhook_endpoints",
            {"url": "https://hooks.example/", "events": [LONE_SURROGATE]},
            "events.0",
        ),
    ]


@pytest.mark.parametrize("case", range(5))
def test_an_error_quoting_a_lone_surrogate_is_a_400_that_can_be_read(api, merchant, tenant, case):
    method, path, body, field = writes(tenant)[case]
    before = snapshot(merchant)
    response = api.client.generic(
        method.upper(),
        path,
        json.dumps(body),  # ASCII, with the \ud800 escape, as a crafted request sends it
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.raw_key}"},
    )
    error = assert_error(response, 400, field=field)
    assert "\ud800" not in error["message"] and "x?y" in error["message"], error
    assert snapshot(merchant) == before
