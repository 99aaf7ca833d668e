"""API keys (shown once), the payment provider and branding."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tenants.models import ApiKey, Merchant, hash_api_key
from tenants.services import authenticate_api_key

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_api_key_secret_is_shown_once_and_only_its_hash_is_stored(merchant_client, merchant):
    response = merchant_client.post(reverse("tenants:api_keys"), {"name": "Production backend"})
    key = ApiKey.objects.get(merchant=merchant)
    assert response.status_code == 302 and response.url == reverse("tenants:api_key_created", args=[key.public_id])
    page = merchant_client.get(response.url).content.decode()
    secret = page.split('id="api-key-secret" value="')[1].split('"')[0]
    assert secret.startswith("afk_") and key.prefix == secret[:12]
    assert key.hashed_key == hash_api_key(secret) and secret not in key.hashed_key
    assert authenticate_api_key(secret).pk == key.pk
    # Never again: the same page now redirects to the list, which shows the prefix only.
    again = merchant_client.get(reverse("tenants:api_key_created", args=[key.public_id]), follow=True).content.decode()
    assert secret not in again and "was shown once" in again and key.prefix in again


def test_api_key_needs_a_name(merchant_client, merchant):
    response = merchant_client.post(reverse("tenants:api_keys"), {"name": "  "})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_revoking_an_api_key_refuses_it_at_once(merchant_client, merchant, owner):
    from tenants.services import create_api_key

    key, secret = create_api_key(merchant, name="Old", created_by=owner)
    assert "Old" in merchant_client.get(reverse("tenants:api_keys")).content.decode()
    response = merchant_client.post(reverse("tenants:revoke_api_key", args=[key.public_id]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert authenticate_api_key(secret) is None


def test_provider_page_records_stripe(merchant_client, merchant):
    assert "Stripe" in merchant_client.get(reverse("tenants:provider")).content.decode()
    assert merchant_client.post(reverse("tenants:provider"), {"provider": "stripe"}).status_code == 302
    assert merchant_client.post(reverse("tenants:provider"), {"provider": "paypal"}).status_code == 400
    merchant.refresh_from_db()
    assert merchant.payment_provider == Merchant.Provider.STRIPE


def test_branding_saves_name_colour_and_a_png_logo(merchant_client, merchant):
    logo = SimpleUploadedFile("../../evil name.png", PNG, content_type="image/png")
    response = merchant_client.post(
        reverse("tenants:branding"), {"name": "Acme Labs", "brand_color": "#FF8800", "logo": logo}
    )
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert merchant.name == "Acme Labs" and merchant.brand_color == "#ff8800"
    assert merchant.logo.name.startswith("logos/") and merchant.logo.name.endswith("-logo.png")
    assert ".." not in merchant.logo.name and merchant.logo.read() == PNG


@pytest.mark.parametrize(
    "data,files,message",
    [
        ({"name": "Acme", "brand_color": "orange"}, {}, "#rrggbb"),
        ({"name": " ", "brand_color": "#112233"}, {}, "This field is required"),
        (
            {"name": "Acme", "brand_color": "#112233"},
            {"logo": ("logo.png", b"<svg onload=alert(1)>")},
            "PNG, JPEG or GIF",
        ),
        ({"name": "Acme", "brand_color": "#112233"}, {"logo": ("big.png", PNG + b"\0" * 600_000)}, "limit is 512 KB"),
    ],
)
def test_branding_rejects_bad_input_and_changes_nothing(merchant_client, merchant, data, files, message):
    before = (merchant.name, merchant.brand_color)
    payload = dict(data)
    for field, (name, content) in files.items():
        payload[field] = SimpleUploadedFile(name, content, content_type="image/png")
    response = merchant_client.post(reverse("tenants:branding"), payload)
    assert response.status_code == 400 and message in response.content.decode()
    merchant.refresh_from_db()
    assert (merchant.name, merchant.brand_color) == before and not merchant.logo
