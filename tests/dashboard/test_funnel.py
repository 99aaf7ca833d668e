"""The funnel on the dashboard's overview and the affiliate portal: clicks -> leads -> customers -> revenue, and the
customers won by each route (click, lead, promotion code, manual, API), of the period, the merchant's (or the
affiliate's own) only."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from affiliates.models import Affiliate, Lead, Referral
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory, UserFactory
from tracking.models import Click

pytestmark = pytest.mark.django_db


def step(body: str, name: str) -> str:
    found = re.search(
        rf'data-step="{name}">\s*<span class="label">[^<]+</span>\s*<span class="value[^"]*">([^<]+)<', body
    )
    assert found, name
    return found.group(1).strip()


def sources(body: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-source="(\w+)"><td>[^<]+</td><td class="num">([^<]+)</td>', body))


@pytest.fixture
def world(merchant, affiliate, other_merchant):
    bob = AffiliateFactory(merchant=merchant, code="bob", email="bob@example.com")
    now = timezone.now()
    for n, (who, source) in enumerate(
        [(affiliate, "click"), (affiliate, "lead"), (affiliate, "lead"), (bob, "promotion_code"), (bob, "api")]
    ):
        referral = ReferralFactory(affiliate=who, source=source, stripe_customer_id=f"cus_{n}", converted_at=now)
        CommissionFactory(referral=referral, amount=1000, base_amount=5000)
    for n in range(6):
        Click.objects.create(
            merchant=merchant,
            affiliate=affiliate if n < 4 else bob,
            referral=ReferralFactory(affiliate=affiliate),
            created_at=now,
        )
    lead_of = ReferralFactory(affiliate=affiliate)
    Lead.objects.create(merchant=merchant, referral=lead_of, email="a@example.org", origin="browser")
    Lead.objects.create(merchant=merchant, referral=lead_of, email="b@example.org", origin="server")
    old = Lead.objects.create(merchant=merchant, referral=lead_of, email="old@example.org", origin="server")
    Lead.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=90))
    # Another merchant's rows would count if scoping failed.
    theirs = AffiliateFactory(merchant=other_merchant, code="theirs", email="t@example.com")
    their_referral = ReferralFactory(affiliate=theirs, source="lead", stripe_customer_id="cus_t", converted_at=now)
    Lead.objects.create(merchant=other_merchant, referral=their_referral, email="t@example.org", origin="server")
    return bob


def test_the_overview_shows_the_funnel_and_customers_by_source(merchant_client, world):
    body = merchant_client.get(reverse("affiliates:overview"), {"period": "30d"}).content.decode()
    assert (step(body, "clicks"), step(body, "leads"), step(body, "customers")) == ("6", "2", "5")
    assert step(body, "revenue") == "$250.00"
    assert sources(body) == {"click": "1", "lead": "2", "promotion_code": "1", "manual": "0", "api": "1"}
    assert "33.3% of the step before" in body  # leads per click: 2 of 6


def test_the_portal_shows_the_affiliates_own_funnel(client, merchant, affiliate, world):
    user = UserFactory(email="alice@example.net")
    Affiliate.objects.filter(pk=affiliate.pk).update(user=user, email=user.email)
    client.force_login(user)
    body = client.get(reverse("affiliates:portal_dashboard", kwargs={"slug": merchant.slug})).content.decode()
    assert (step(body, "clicks"), step(body, "leads"), step(body, "customers")) == ("4", "2", "3")
    assert sources(body) == {"click": "1", "lead": "2", "promotion_code": "0", "manual": "0", "api": "0"}
    assert Referral.objects.filter(affiliate=world).exists()  # bob's customers are not alice's
