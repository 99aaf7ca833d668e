"""One error shape for every cause, and Idempotency-Key on POSTs."""

import json

import pytest

from affiliates.models import Affiliate, Commission
from tenants.models import IdempotencyKey
from tests.factories import ReferralFactory

from .conftest import assert_error


def test_malformed_json_is_400_in_the_shape(api, merchant):
    response = api.post("/api/v1/affiliates", raw='{"email": "x@example.com",')
    error = assert_error(response, 400, code="parse_error")
    assert "JSON" in error["message"]
    assert not Affiliate.objects.filter(merchant=merchant).exists()


def test_non_json_body_is_415_in_the_shape(api, merchant):
    response = api.client.post(
        "/api/v1/affiliates",
        "email=x@example.com",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {api.raw_key}"},
    )
    assert_error(response, 415, code="unsupported_media_type")
    assert not Affiliate.objects.filter(merchant=merchant).exists()


def test_json_that_is_not_an_object_is_400(api, merchant):
    assert_error(api.post("/api/v1/affiliates", raw="[1, 2]"), 400, code="invalid")
    assert_error(api.post("/api/v1/conversions", raw='{"amount": NaN}'), 400, code="parse_error")


def test_unknown_path_and_method_are_in_the_shape(api, anonymous_api, affiliate):
    error = assert_error(api.get("/api/v1/nothing-here"), 404, code="not_found")
    assert "/api/v1/nothing-here" in error["message"]
    error = assert_error(anonymous_api.get("/api/v1/affiliates/"), 404, code="not_found")
    assert "no trailing slash: /api/v1/affiliates" in error["message"]
    assert_error(api.delete(f"/api/v1/affiliates/{affiliate.public_id}"), 405, code="method_not_allowed")
    assert_error(api.get("/api/v1/affiliates/0b5e1a9e-0000-4000-8000-000000000000"), 404, code="not_found")
    assert_error(api.get("/api/v1/affiliates/not-a-uuid"), 404, code="not_found")
    Affiliate.objects.get(pk=affiliate.pk)  # the DELETE changed nothing


def test_same_idempotency_key_replays_the_first_response(api, merchant):
    headers = {"Idempotency-Key": "create-dana-1"}
    body = {"email": "dana@example.com", "name": "Dana"}
    first = api.post("/api/v1/affiliates", body, headers=headers)
    again = api.post("/api/v1/affiliates", body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Affiliate.objects.filter(merchant=merchant).count() == 1
    # Without the key the same body is a new request, refused because the email is taken.
    assert_error(api.post("/api/v1/affiliates", body), 409, code="unique", field="email")


def test_idempotency_key_with_a_different_body_is_refused(api, merchant):
    headers = {"Idempotency-Key": "create-1"}
    assert api.post("/api/v1/affiliates", {"email": "erin@example.com"}, headers=headers).status_code == 201
    response = api.post("/api/v1/affiliates", {"email": "frank@example.com"}, headers=headers)
    assert_error(response, 409, code="idempotency_key_reused")
    assert list(Affiliate.objects.filter(merchant=merchant).values_list("email", flat=True)) == ["erin@example.com"]


def test_idempotency_key_replays_an_action_without_running_it_twice(api, affiliate):
    headers = {"Idempotency-Key": "refund-2024-05-01"}
    ReferralFactory(affiliate=affiliate, rid="visit-1")
    api.post("/api/v1/conversions", {"id": "o-1", "referral": "visit-1", "amount": 10000, "currency": "usd"})
    first = api.post("/api/v1/conversions/o-1/refund", {"amount": 1000}, headers=headers)
    again = api.post("/api/v1/conversions/o-1/refund", {"amount": 1000}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert Commission.objects.get(source_id="conv_o-1").refunded_amount == 1000  # not 2000


def test_errors_are_not_stored_so_a_fixed_request_can_reuse_the_key(api, merchant):
    headers = {"Idempotency-Key": "retry-me"}
    assert_error(api.post("/api/v1/affiliates", {"name": "no email"}, headers=headers), 400)
    assert not IdempotencyKey.objects.filter(merchant=merchant).exists()
    # Once it succeeds, the key holds that response.
    assert (
        api.post("/api/v1/affiliates", {"name": "fixed", "email": "g@example.com"}, headers=headers).status_code == 201
    )
    assert IdempotencyKey.objects.get(merchant=merchant, key="retry-me").response_status == 201


def test_idempotency_keys_are_per_merchant(api, other_api, merchant, other_merchant):
    headers = {"Idempotency-Key": "shared-name"}
    assert api.post("/api/v1/affiliates", {"email": "h@example.com"}, headers=headers).status_code == 201
    assert other_api.post("/api/v1/affiliates", {"email": "i@example.com"}, headers=headers).status_code == 201
    assert other_merchant.affiliates.get().email == "i@example.com"


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_malformed_idempotency_key_is_400(api, merchant, key):
    response = api.post("/api/v1/affiliates", {"email": "j@example.com"}, headers={"Idempotency-Key": key})
    assert_error(response, 400, field="Idempotency-Key")
    assert not Affiliate.objects.filter(merchant=merchant).exists()


def test_every_post_operation_documents_the_idempotency_key(anonymous_api):
    schema = json.loads(anonymous_api.get("/api/v1/schema/").content)
    posts = [(path, op) for path, item in schema["paths"].items() for method, op in item.items() if method == "post"]
    assert len(posts) == 11  # creating a program, attributing a customer (POST referrals) and a lead among them
    for path, op in posts:
        names = {p["name"] for p in op.get("parameters", [])}
        assert "Idempotency-Key" in names, path
        assert "409" in op["responses"], path


def test_oversized_body_is_413_in_the_shape(api, merchant, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post("/api/v1/affiliates", {"email": "k@example.com", "name": "x" * 2000})
    assert_error(response, 413, code="request_too_large")
    assert not Affiliate.objects.filter(merchant=merchant).exists()


def test_an_unexpected_error_still_answers_in_the_shape(db):
    from api.base import exception_handler

    response = exception_handler(RuntimeError("boom"), {"request": None, "view": None})
    assert response.status_code == 500
    assert response.data == {
        "error": {"code": "server_error", "message": response.data["error"]["message"], "field": None}
    }
    assert "boom" not in response.data["error"]["message"]  # internals are logged, not shown
