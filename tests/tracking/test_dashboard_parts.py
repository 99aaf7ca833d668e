"""What the dashboard shows of tracking: the install partial and its installation check, scoped to one merchant."""

from datetime import timedelta
from html import escape

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from tests.factories import AffiliateFactory
from tracking.models import SeenDomain

pytestmark = pytest.mark.django_db


def test_install_partial_shows_the_exact_snippet_and_an_empty_check(merchant, settings):
    settings.SITE_URL = "https://app.afficone.example"
    html = render_to_string("tracking/_install.html", {"merchant": merchant})

    snippet = f'<script async src="https://app.afficone.example/t.js" data-afficone="{merchant.public_key}"></script>'
    assert escape(snippet, quote=True) in html or escape(snippet, quote=False) in html
    assert "Copy snippet" in html
    assert "The script has not been seen on your site yet." in html


def test_settings_page_lists_this_merchants_domains_most_recently_seen_first(merchant_client, merchant, other_merchant):
    now = timezone.now()
    SeenDomain.objects.create(merchant=merchant, domain="old.shop.example", last_seen_at=now - timedelta(days=3))
    SeenDomain.objects.create(merchant=merchant, domain="new.shop.example", last_seen_at=now)
    SeenDomain.objects.create(merchant=other_merchant, domain="globex.example", last_seen_at=now)

    html = merchant_client.get("/settings/").content.decode()

    assert html.index("new.shop.example") < html.index("old.shop.example")
    assert "globex.example" not in html and "not been seen" not in html


def test_demo_shop_embeds_the_demo_merchants_key(client, merchant):
    merchant.slug = "demo-coffee-co"
    merchant.save(update_fields=["slug"])
    AffiliateFactory(merchant=merchant, program=merchant.programs.get(), code="barista")

    html = client.get("/demo/shop/").content.decode()

    assert f'data-afficone="{merchant.public_key}"' in html
    assert 'src="/t.js"' in html
    assert "?ref=barista" in html
    assert "https://buy.stripe.com/" in html and "<stripe-buy-button" in html
    assert "js.stripe.com" not in html  # works offline


def test_demo_shop_explains_what_to_do_without_the_demo_merchant(client, db):
    response = client.get("/demo/shop/")
    assert response.status_code == 200
    assert "The demo merchant does not exist yet" in response.content.decode()
    assert "data-afficone" not in response.content.decode()
