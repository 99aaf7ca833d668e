"""What the dashboard shows: the install partial and the click selectors, scoped to one merchant."""

from datetime import timedelta
from html import escape

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from tests.factories import AffiliateFactory
from tracking import selectors
from tracking.models import Click, SeenDomain

pytestmark = pytest.mark.django_db


def _click(affiliate, when, ip_hash="a" * 32):
    return Click.objects.create(merchant=affiliate.merchant, affiliate=affiliate, created_at=when, ip_hash=ip_hash)


def test_install_partial_shows_the_exact_snippet_and_an_empty_check(merchant, settings):
    settings.SITE_URL = "https://app.afficone.example"
    html = render_to_string("tracking/_install.html", {"merchant": merchant})

    snippet = f'<script async src="https://app.afficone.example/t.js" data-afficone="{merchant.public_key}"></script>'
    assert escape(snippet, quote=True) in html or escape(snippet, quote=False) in html
    assert "Copy snippet" in html
    assert "The script has not been seen on your site yet." in html


def test_install_partial_lists_only_this_merchants_domains(merchant, other_merchant):
    now = timezone.now()
    SeenDomain.objects.create(merchant=merchant, domain="shop.example", last_seen_at=now)
    SeenDomain.objects.create(merchant=other_merchant, domain="globex.example", last_seen_at=now)

    html = render_to_string("tracking/_install.html", {"merchant": merchant})

    assert "shop.example" in html and "globex.example" not in html
    assert "not been seen" not in html


def test_click_selectors_count_one_merchant_in_a_period(merchant, other_merchant, affiliate):
    bob = AffiliateFactory(merchant=merchant, program=merchant.programs.get())
    stranger = AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get())
    now = timezone.now().replace(hour=12)
    yesterday = now - timedelta(days=1)
    _click(affiliate, now, "v1")
    _click(affiliate, now, "v1")
    _click(bob, now, "v2")
    _click(affiliate, yesterday, "v1")
    _click(affiliate, now - timedelta(days=40))
    _click(stranger, now)
    since, until = now - timedelta(days=30), now + timedelta(hours=1)

    assert selectors.click_count(merchant, since=since, until=until) == 4
    assert selectors.click_count(merchant, since=since, until=until, affiliate=affiliate) == 3
    assert selectors.unique_visitor_count(merchant, since=since, until=until) == 3  # v1 today, v2 today, v1 yesterday
    assert selectors.clicks_per_day(merchant, since=since, until=until) == [(yesterday.date(), 1), (now.date(), 3)]
    assert selectors.clicks_per_affiliate(merchant, since=since, until=until) == {affiliate.pk: 3, bob.pk: 1}
    assert selectors.click_count(other_merchant) == 1


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
