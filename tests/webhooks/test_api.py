"""/api/v1/webhook_endpoints: list, create (the secret, once), retrieve, update, delete; tenant scoping; errors."""

import pytest
from standardwebhooks import Webhook

from tests.api.conftest import assert_error
from webhooks.models import WebhookEndpoint
from webhooks.services import create_endpoint

pytestmark = pytest.mark.django_db

FIELDS = {"id", "url", "events", "status", "disabled_reason", "created"}


def test_create_answers_the_secret_once_and_stores_the_endpoint(api, merchant):
    response = api.post(
        "/api/v1/webhook_endpoints",
        {"url": "https://hooks.example.com/afficone", "events": ["payout.paid", "commission.created"]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS | {"secret"}
    endpoint = WebhookEndpoint.objects.get(merchant=merchant)
    assert body["id"] == str(endpoint.public_id) and body["secret"] == endpoint.secret
    assert body["events"] == ["commission.created", "payout.paid"]  # each once, in the documented order
    assert body["status"] == "enabled"
    Webhook(body["secret"])  # a valid Standard Webhooks secret

    retrieved = api.get(f"/api/v1/webhook_endpoints/{endpoint.public_id}").json()
    assert set(retrieved) == FIELDS and retrieved["url"] == "https://hooks.example.com/afficone"
    [listed] = api.get("/api/v1/webhook_endpoints").json()["results"]
    assert "secret" not in listed and listed["id"] == body["id"]


def test_update_and_delete(api, merchant):
    endpoint = create_endpoint(merchant, url="https://a.example.com/h", events=["payout.paid"])
    path = f"/api/v1/webhook_endpoints/{endpoint.public_id}"
    response = api.patch(path, {"status": "disabled", "events": ["affiliate.created", "affiliate.updated"]})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["events"]) == (
        "disabled",
        ["affiliate.created", "affiliate.updated"],
    )
    response = api.patch(path, {"url": "https://b.example.com/h"})
    assert (response.json()["url"], response.json()["status"]) == ("https://b.example.com/h", "disabled")
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.status) == ("https://b.example.com/h", "disabled")

    response = api.delete(path)
    assert response.status_code == 204 and response.content == b""
    assert not WebhookEndpoint.objects.exists()
    assert_error(api.get(path), 404, code="not_found")


@pytest.mark.parametrize(
    "body,field",
    [
        ({"events": ["payout.paid"]}, "url"),
        ({"url": "https://a.example.com/h"}, "events"),
        ({"url": "https://a.example.com/h", "events": []}, "events"),
        ({"url": "https://a.example.com/h", "events": ["charge.succeeded"]}, "events.0"),
        ({"url": "https://a.example.com/h", "events": "payout.paid"}, "events"),
        ({"url": "https://a.example.com/h", "events": ["payout.paid"], "status": "paused"}, "status"),
        ({"url": 42, "events": ["payout.paid"]}, "url"),
    ],
)
def test_bad_input_says_which_field_and_stores_nothing(api, body, field):
    assert_error(api.post("/api/v1/webhook_endpoints", body), 400, field=field)
    assert not WebhookEndpoint.objects.exists()


def test_another_merchants_endpoint_answers_404_and_changes_nothing(api, other_merchant):
    theirs = create_endpoint(other_merchant, url="https://globex.example.com/h", events=["payout.paid"])
    path = f"/api/v1/webhook_endpoints/{theirs.public_id}"
    assert_error(api.get(path), 404, code="not_found")
    assert_error(api.patch(path, {"url": "https://evil.example.com/", "status": "disabled"}), 404, code="not_found")
    assert_error(api.delete(path), 404, code="not_found")
    assert api.get("/api/v1/webhook_endpoints").json()["results"] == []
    theirs.refresh_from_db()
    assert (theirs.url, theirs.status) == ("https://globex.example.com/h", "enabled")
    assert_error(api.get("/api/v1/webhook_endpoints/not-a-uuid"), 404)


def test_lists_are_paginated_newest_first(api, merchant):
    endpoints = [create_endpoint(merchant, url=f"https://h{n}.example.com/", events=["payout.paid"]) for n in range(3)]
    ids = [str(endpoint.public_id) for endpoint in endpoints]
    first = api.get("/api/v1/webhook_endpoints", {"limit": 2}).json()
    assert [row["id"] for row in first["results"]] == ids[::-1][:2] and first["next"]
    second = api.client.get(first["next"], headers=api._headers(None)).json()
    assert [row["id"] for row in second["results"]] == ids[:1]


def test_a_key_is_needed(client):
    assert_error(client.get("/api/v1/webhook_endpoints"), 401, code="not_authenticated")
