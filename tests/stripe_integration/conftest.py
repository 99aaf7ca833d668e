"""Fixtures of the Connect tests (test_connect.py, test_connect_access.py): a merchant not connected yet, its owner
logged in, and the Stripe account it will connect in the local fake of Stripe."""

import pytest

from tenants.models import Membership, Merchant
from tests.factories import MembershipFactory, MerchantFactory


@pytest.fixture
def shop(db):
    """A merchant that has not connected Stripe yet."""
    return MerchantFactory(
        name="Northwind",
        stripe_account_id=None,
        stripe_status=Merchant.StripeStatus.NOT_CONNECTED,
        stripe_connected_at=None,
    )


@pytest.fixture
def shop_owner(shop):
    return MembershipFactory(merchant=shop, role=Membership.Role.OWNER).user


@pytest.fixture
def owner_client(client, shop_owner):
    client.force_login(shop_owner)
    return client


@pytest.fixture
def stripe_account(fake_stripe):
    return fake_stripe.add_account("acct_1NorthwindAAAA", name="Northwind Traders LLC", display_name="Northwind")
