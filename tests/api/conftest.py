"""Fixtures for the REST API tests: a key per merchant and a small JSON client that sends it."""

import json

import pytest
from django.test import Client

from affiliates.models import Lead
from affiliates.services import create_payout_batch
from tenants.services import create_api_key
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory


class Api:
    """Django's test client speaking JSON to /api/v1/ with `Authorization: Bearer <key>`."""

    def __init__(self, raw_key: str | None):
        self.client = Client()
        self.raw_key = raw_key

    def _headers(self, headers: dict | None) -> dict:
        base = {"Authorization": f"Bearer {self.raw_key}"} if self.raw_key else {}
        return {**base, **(headers or {})}

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body=None, headers: dict | None = None, raw: bytes | str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type="application/json", headers=self._headers(headers))

    def patch(self, path: str, body=None, headers: dict | None = None):
        return self.client.patch(
            path, json.dumps(body or {}), content_type="application/json", headers=self._headers(headers)
        )

    def delete(self, path: str, headers: dict | None = None):
        return self.client.delete(path, headers=self._headers(headers))


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The response is an error of the one shape, with this status (and code and field, when given)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["field"] == field, body
    return body["error"]


@pytest.fixture
def raw_key(merchant):
    return create_api_key(merchant, name="Backend")[1]


@pytest.fixture
def api(raw_key):
    return Api(raw_key)


@pytest.fixture
def other_api(other_merchant):
    return Api(create_api_key(other_merchant, name="Theirs")[1])


@pytest.fixture
def anonymous_api(db):
    return Api(None)


def seed_tenant(merchant, *, code: str, email: str) -> dict:
    """One of each API resource for `merchant`: affiliate, referral, lead, commissions (one in a payout), conversion."""
    program = merchant.programs.get(is_default=True)
    affiliate = AffiliateFactory(merchant=merchant, program=program, code=code, email=email)
    referral = ReferralFactory(affiliate=affiliate, stripe_customer_id=f"cus_{code}")
    pending = CommissionFactory(referral=referral, amount=1500)
    paid_out = CommissionFactory(referral=referral, amount=9000, status="approved")
    create_payout_batch(merchant)
    conversion = CommissionFactory(
        referral=referral,
        amount=800,
        source_type="conversion",
        source_id=f"conv_order-{code}",
        stripe_payment_intent_id="",
    )
    paid_out.refresh_from_db()
    lead = Lead.objects.create(
        merchant=merchant, referral=referral, email=f"lead-{code}@example.org", origin=Lead.Origin.SERVER
    )
    return {
        "program": program,
        "affiliate": affiliate,
        "referral": referral,
        "lead": lead,
        "commission": pending,
        "payout": paid_out.payout,
        "conversion": conversion,
    }
