"""/t.js as served (size, caching, 304) and the installation-check beacon."""

import gzip
import json
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import MerchantFactory
from tracking import services
from tracking.models import SeenDomain

from .conftest import BROWSER_UA

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "tracking" / "t.js"


def test_script_is_at_most_1000_bytes_gzipped():
    assert len(gzip.compress(SCRIPT.read_bytes(), compresslevel=9)) <= 1000


def test_script_is_cached_long_and_revalidated_with_a_strong_etag(client):
    first = client.get("/t.js", HTTP_ACCEPT_ENCODING="gzip, br")

    assert first.status_code == 200
    assert first["Content-Type"].startswith("text/javascript")
    assert first["Content-Encoding"] == "gzip"
    assert gzip.decompress(first.content) == SCRIPT.read_bytes()
    etag = first["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "public" in first["Cache-Control"] and "max-age=86400" in first["Cache-Control"]
    assert "Accept-Encoding" in first["Vary"]
    assert first["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert first["X-Content-Type-Options"] == "nosniff"
    assert "Cookie" not in first["Vary"] and "Set-Cookie" not in first  # cacheable by a CDN

    again = client.get("/t.js", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag

    plain = client.get("/t.js", HTTP_IF_NONE_MATCH='"something-else"')
    assert (
        plain.status_code == 200 and plain.content == SCRIPT.read_bytes() and not plain.has_header("Content-Encoding")
    )


def test_script_is_one_file_for_every_tenant(client):
    assert client.get("/t.js").content == SCRIPT.read_bytes()
    assert client.post("/t.js").status_code == 405


@pytest.fixture
def post_seen(client):
    def post(body, *, user_agent=BROWSER_UA, ip="203.0.113.5"):
        data = body if isinstance(body, bytes) else json.dumps(body)
        return client.post(
            "/api/track/seen", data, content_type="text/plain;charset=UTF-8", HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip
        )

    return post


@pytest.mark.django_db
def test_beacon_records_the_domain_and_when(merchant, post_seen):
    response = post_seen({"k": merchant.public_key, "u": "https://App.Shop.test/pricing?x=1"})
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    seen = SeenDomain.objects.get()
    assert (seen.merchant, seen.domain) == (merchant, "app.shop.test")
    first_seen = seen.last_seen_at

    assert post_seen({"k": merchant.public_key, "u": "https://app.shop.test/"}).status_code == 204
    seen.refresh_from_db()
    assert SeenDomain.objects.count() == 1 and seen.last_seen_at > first_seen


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, status",
    [(b"{", 400), ({"k": "pk_x", "u": "ftp://shop.test/"}, 400), ({"k": "pk_nobody", "u": "https://shop.test/"}, 404)],
)
def test_bad_beacons_are_refused_and_store_nothing(merchant, post_seen, body, status):
    response = post_seen(body)
    assert response.status_code == status and response.json()["error"]["code"]
    assert SeenDomain.objects.count() == 0


@pytest.mark.django_db
def test_beacons_from_bots_are_ignored(merchant, post_seen):
    assert (
        post_seen({"k": merchant.public_key, "u": "https://shop.test/"}, user_agent="Googlebot/2.1").status_code == 204
    )
    assert SeenDomain.objects.count() == 0


@pytest.mark.django_db
def test_a_merchant_keeps_at_most_200_domains(merchant, post_seen, settings):
    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 1000
    now = timezone.now()
    SeenDomain.objects.bulk_create(
        [
            SeenDomain(merchant=merchant, domain=f"site{i}.example", last_seen_at=now)
            for i in range(services.MAX_SEEN_DOMAINS)
        ]
    )
    assert post_seen({"k": merchant.public_key, "u": "https://junk.example/"}).status_code == 204
    assert post_seen({"k": merchant.public_key, "u": "https://site3.example/"}).status_code == 204
    assert SeenDomain.objects.count() == services.MAX_SEEN_DOMAINS
    assert not SeenDomain.objects.filter(domain="junk.example").exists()
    other = MerchantFactory()
    assert post_seen({"k": other.public_key, "u": "https://junk.example/"}).status_code == 204
    assert SeenDomain.objects.filter(merchant=other).count() == 1
