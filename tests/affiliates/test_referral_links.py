"""Affiliate links (affiliates/links.py): one builder behind the dashboard, the portal and the API."""

import csv
import io
from html import escape

import pytest
from django.urls import reverse

from affiliates.links import referral_link
from tenants.models import Merchant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("site", "link"),
    [
        ("https://shop.example", "https://shop.example/?ref=alice"),
        ("https://shop.example/store", "https://shop.example/store?ref=alice"),
        ("https://shop.example/store?lang=en", "https://shop.example/store?lang=en&ref=alice"),
        ("https://shop.example/store/", "https://shop.example/store/?ref=alice"),
        ("https://shop.example/?ref=bob&lang=en", "https://shop.example/?lang=en&ref=alice"),
        ("https://shop.example/?via=bob&aff=carol", "https://shop.example/?ref=alice"),
        ("https://shop.example/pricing#plans", "https://shop.example/pricing?ref=alice#plans"),
        ("https://shop.example/?lang=en#top", "https://shop.example/?lang=en&ref=alice#top"),
        ("shop.example/store", "https://shop.example/store?ref=alice"),
        ("  https://shop.example  ", "https://shop.example/?ref=alice"),
        ("", ""),
    ],
)
def test_a_link_is_the_site_with_the_affiliates_ref_and_nothing_of_the_site_lost(site, link):
    assert referral_link(site, "alice") == link


def _set_website(merchant, website: str) -> None:
    Merchant.objects.filter(pk=merchant.pk).update(website=website)


def test_the_dashboard_keeps_the_websites_path_and_query_in_the_link(merchant_client, merchant, affiliate):
    _set_website(merchant, "https://shop.example/store?lang=en")
    response = merchant_client.get(reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}))
    assert response.status_code == 200
    assert response.context["link"] == "https://shop.example/store?lang=en&ref=alice"
    assert escape("https://shop.example/store?lang=en&ref=alice") in response.content.decode()


def test_the_affiliates_export_has_the_same_link_as_the_page(merchant_client, merchant, affiliate):
    _set_website(merchant, "https://shop.example/store?lang=en")
    response = merchant_client.get(reverse("affiliates:affiliate_list") + "?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["link"] for row in rows] == ["https://shop.example/store?lang=en&ref=alice"]


def test_without_a_website_the_dashboard_shows_a_placeholder_site(merchant_client, merchant, affiliate):
    response = merchant_client.get(reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}))
    assert response.context["link"] == "https://your-shop.example/?ref=alice"


def test_without_a_website_the_portal_shows_no_link_but_builds_one_for_a_page(client, merchant, affiliate):
    user = UserFactory(email=affiliate.email)
    type(affiliate).objects.filter(pk=affiliate.pk).update(user=user)
    client.force_login(user)
    portal = reverse("affiliates:portal_dashboard", kwargs={"slug": merchant.slug})
    assert client.get(portal).context["link"] == ""
    built = client.get(portal + "?page_url=https://shop.example/blog%3Fpage%3D2%23latest").context["built_link"]
    assert built == "https://shop.example/blog?page=2&ref=alice#latest"
