"""Who may connect and disconnect Stripe (owners and admins), what members and anonymous visitors get, and what the
Stripe page shows; the flows themselves are in test_connect.py."""

import pytest
from django.urls import reverse

from stripe_integration.models import StripeEvent
from tenants.models import Membership
from tests.factories import MembershipFactory
from tests.stripe_integration.test_connect import (
    CALLBACK,
    CONNECT,
    DISCONNECT,
    PAGE,
    assert_not_connected,
    consent,
    start,
)


@pytest.fixture
def member_client(client, shop):
    client.force_login(MembershipFactory(merchant=shop, role=Membership.Role.MEMBER).user)
    return client


def test_members_see_the_connection_but_cannot_change_it(member_client, shop, fake_stripe, stripe_account):
    page = member_client.get(PAGE)
    assert page.status_code == 200
    assert "Not connected" in page.content.decode()
    assert "Only the owners and admins of Northwind can change the Stripe connection." in page.content.decode()
    assert CONNECT not in page.content.decode()

    code = fake_stripe.issue_code(stripe_account["id"])
    assert member_client.get(CONNECT).status_code == 403
    assert member_client.get(CALLBACK, {"code": code, "state": "x"}).status_code == 403
    assert member_client.post(DISCONNECT).status_code == 403
    assert_not_connected(shop)
    assert fake_stripe.requests == []


def test_members_cannot_disconnect(client, fake_stripe, merchant):
    client.force_login(MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER).user)

    assert client.post(DISCONNECT).status_code == 403

    merchant.refresh_from_db()
    assert merchant.is_stripe_connected
    assert fake_stripe.requests == []


def test_admins_may_connect(client, shop, fake_stripe, stripe_account):
    client.force_login(MembershipFactory(merchant=shop, role=Membership.Role.ADMIN).user)
    fake_stripe.authorize_as(stripe_account["id"])

    assert client.get(consent(start(client))).status_code == 302

    shop.refresh_from_db()
    assert shop.is_stripe_connected


@pytest.mark.parametrize(("method", "url"), [("get", PAGE), ("get", CONNECT), ("get", CALLBACK), ("post", DISCONNECT)])
def test_anonymous_visitors_are_sent_to_log_in(client, fake_stripe, method, url):
    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("tenants:login") + "?next=")
    assert fake_stripe.requests == []


def test_the_page_explains_how_to_connect(owner_client):
    page = owner_client.get(PAGE).content.decode()

    assert "Connect with Stripe" in page
    assert f'<form method="get" action="{CONNECT}"' in page and 'name="next" value="/stripe/"' in page
    assert 'name="access" value="write"' in page  # the box for write access, unticked
    assert "read-only access" in page and "checked" not in page.split('name="access"')[1].split(">")[0]


def test_the_page_shows_webhook_health_of_this_merchant_only(client, merchant, owner, other_merchant):
    for n, status in enumerate([StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED, StripeEvent.Status.FAILED]):
        StripeEvent.objects.create(
            stripe_id=f"evt_mine{n}",
            type="invoice.paid",
            account=merchant.stripe_account_id,
            merchant=merchant,
            payload={},
            status=status,
        )
    StripeEvent.objects.create(
        stripe_id="evt_theirs",
        type="invoice.paid",
        account=other_merchant.stripe_account_id,
        merchant=other_merchant,
        payload={},
        status=StripeEvent.Status.FAILED,
    )
    client.force_login(owner)

    page = " ".join(client.get(PAGE).content.decode().split())

    assert "3 received, 1 ignored, 1 failed" in page
    assert "Last event received" in page and "None yet" not in page
