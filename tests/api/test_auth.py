"""API keys: missing, malformed, invalid and revoked keys get 401 in the error shape; limits are per key."""

import pytest

from tenants.models import ApiKey
from tenants.services import create_api_key, revoke_api_key

from .conftest import Api, assert_error


def test_missing_key_is_401_with_bearer_challenge(anonymous_api, merchant):
    response = anonymous_api.get("/api/v1/affiliates")
    error = assert_error(response, 401, code="not_authenticated")
    assert "Bearer" in error["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer afk_not-a-real-key",
        "Bearer",
        "Bearer two words",
        "Basic dXNlcjpwYXNz",
        "Token afk_x",
        "Bearer pk_public",
    ],
)
def test_wrong_or_malformed_key_is_401(db, header):
    client = Api(None)
    response = client.get("/api/v1/affiliates", headers={"Authorization": header})
    assert_error(response, 401, code="authentication_failed")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_valid_key_reads_its_merchant_and_records_use(api, raw_key, merchant, affiliate):
    response = api.get("/api/v1/affiliates")
    assert response.status_code == 200
    assert [a["code"] for a in response.json()["results"]] == ["alice"]
    assert ApiKey.objects.get(merchant=merchant).last_used_at is not None


def test_revoked_key_is_refused_at_once(api, merchant):
    assert api.get("/api/v1/programs").status_code == 200
    revoke_api_key(ApiKey.objects.get(merchant=merchant))
    assert_error(api.get("/api/v1/programs"), 401, code="authentication_failed")
    assert_error(api.post("/api/v1/affiliates", {"email": "new@example.com"}), 401)
    assert not merchant.affiliates.filter(email="new@example.com").exists()


def test_rate_limit_is_per_key_and_answers_429_in_the_shape(merchant, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "3/day"}}
    first, second = Api(create_api_key(merchant, name="one")[1]), Api(create_api_key(merchant, name="two")[1])
    responses = [first.get("/api/v1/programs") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    assert {r["X-RateLimit-Limit"] for r in responses} == {"3"}
    response = first.get("/api/v1/programs")
    assert_error(response, 429, code="throttled")
    assert int(response["Retry-After"]) > 0
    assert response["X-RateLimit-Remaining"] == "0"
    # Another key of the same merchant has its own allowance.
    assert second.get("/api/v1/programs").status_code == 200


def test_schema_and_docs_need_no_key(anonymous_api):
    assert anonymous_api.get("/api/v1/schema/").status_code == 200
    assert anonymous_api.get("/api/v1/docs/").status_code == 200
