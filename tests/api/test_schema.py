"""The OpenAPI schema, the docs page, and a schemathesis run against the schema.

Schemathesis generates requests for every operation from the schema served at
/api/v1/schema/ (valid ones and deliberately invalid ones) and sends them to
the Django WSGI app with a valid key for a merchant seeded with data. Every
response must be documented and match its schema; none may be a 5xx.
"""

import json
import re

import hypothesis
import pytest
import schemathesis
import yaml
from django.contrib.staticfiles import finders
from django.core import signals
from django.db import close_old_connections
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from afficone.wsgi import application
from tenants.services import create_api_key
from webhooks.services import create_endpoint

from .conftest import seed_tenant

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


def test_schema_is_openapi_3_with_bearer_auth_and_the_error_shape(anonymous_api):
    response = anonymous_api.get("/api/v1/schema/")
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["apiKey"]["description"],
    }
    error = doc["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"code", "message", "field"}
    assert error["properties"]["field"]["nullable"] is True
    assert doc["components"]["schemas"]["AffiliateStatusEnum"]["enum"] == [
        "pending",
        "approved",
        "rejected",
        "suspended",
    ]
    assert doc["components"]["schemas"]["CommissionStatusEnum"]["enum"] == ["pending", "approved", "paid", "voided"]
    listing = doc["paths"]["/api/v1/commissions"]["get"]
    assert {"cursor", "limit", "affiliate", "status", "created_gte", "created_lte"} <= {
        p["name"] for p in listing["parameters"]
    }
    page = doc["components"]["schemas"]["PaginatedCommissionOutputList"]
    assert {"next", "previous", "results"} <= set(page["properties"])
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"apiKey": []}], (method, path)
            assert {"400", "401", "429"} <= set(operation["responses"]), (method, path)


@pytest.mark.parametrize(
    "accept,content_type",
    [
        (None, "application/vnd.oai.openapi+json"),
        ("application/json", "application/json"),
        ("application/vnd.oai.openapi+json", "application/vnd.oai.openapi+json"),
        ("application/json, text/plain, */*", "application/json"),
        ("*/*", "application/vnd.oai.openapi+json"),
        ("application/yaml", "application/yaml"),
        ("application/vnd.oai.openapi", "application/vnd.oai.openapi"),
    ],
)
def test_schema_is_served_as_json_or_yaml_as_the_client_asks(anonymous_api, accept, content_type):
    reference = json.loads(anonymous_api.get("/api/v1/schema/").content)
    response = anonymous_api.get("/api/v1/schema/", headers={"Accept": accept} if accept else None)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == content_type
    if content_type.endswith("json"):
        assert json.loads(response.content) == reference
    else:
        doc = yaml.safe_load(response.content)
        # The same document; YAML only reads a discriminator's "null" mapping key back as null.
        assert (doc["openapi"], doc["info"], doc["paths"]) == (
            reference["openapi"],
            reference["info"],
            reference["paths"],
        )
        assert doc["components"].keys() == reference["components"].keys()


def test_schema_refuses_a_format_it_cannot_write_in_the_error_shape(anonymous_api):
    response = anonymous_api.get("/api/v1/schema/", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert json.loads(response.content)["error"]["code"] == "not_acceptable"


def test_docs_page_uses_only_our_own_static_files(anonymous_api):
    response = anonymous_api.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/schema/" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in a for a in assets) and any("swagger-ui.css" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
    assert "//cdn" not in html and "unpkg.com" not in html and "jsdelivr" not in html
    for asset in assets:  # each one is a file we ship (django-spectacular-sidecar's, served by whitenoise)
        assert finders.find(asset.removeprefix("/static/")), asset


@pytest.fixture
def wsgi_in_test_transaction():
    """Calls through the raw WSGI app must not close the test's connection, as Django's own test client ensures.

    Django closes a connection after each request when its autocommit state
    differs from the settings', which is always the case inside a test's
    transaction (on Postgres it would end the test's transaction).
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(merchant, settings, wsgi_in_test_transaction, fake_stripe):
    """The merchant's Stripe account is the local fake (tests/fake_stripe/), empty: promotion codes and customers
    the requests name are unknown there."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min"}}
    data = seed_tenant(merchant, code="alice", email="alice@example.com")
    ids = {
        "affiliates": str(data["affiliate"].public_id),
        "referrals": data["referral"].rid,
        "leads": str(data["lead"].public_id),
        "commissions": str(data["commission"].public_id),
        "payouts": str(data["payout"].public_id),
        "programs": str(data["program"].public_id),
        "conversions": data["conversion"].source_id.removeprefix("conv_"),
        "webhook_endpoints": str(
            create_endpoint(merchant, url="https://example.com/hooks", events=["payout.paid"]).public_id
        ),
    }
    return {"Authorization": f"Bearer {create_api_key(merchant, name='schemathesis')[1]}"}, ids


@schema.parametrize()
@hypothesis.settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_conforms_to_its_schema(case, seeded):
    headers, ids = seeded
    resource = case.path.split("/")[3]
    # Valid path ids would almost never name a real row; point them at the seeded ones so writes get exercised.
    if "id" in (case.path_parameters or {}) and not (case.meta and case.meta.is_negative_at(ParameterLocation.PATH)):
        case.path_parameters["id"] = ids[resource]
    response = case.call(headers=headers)
    # Whether a promotion code or customer exists in the merchant's Stripe account is beyond what a schema can say:
    # one that does not answers 400 naming it (its body still validated), not a schema-valid request refused.
    unknown_in_stripe = response.status_code == 400 and response.json()["error"]["code"] in STRIPE_UNKNOWNS
    case.validate_response(
        response,
        headers=headers,
        transport_kwargs={"headers": dict(headers)},
        excluded_checks=[positive_data_acceptance] if unknown_in_stripe else None,
    )


STRIPE_UNKNOWNS = {"unknown_promotion_code", "unknown_customer"}
