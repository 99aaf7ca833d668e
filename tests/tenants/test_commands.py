"""`manage.py createmerchant` and `manage.py seed_demo`."""

import io
import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Payout, Program, Referral
from tenants.models import ApiKey, Membership, Merchant, User
from tenants.services import authenticate_api_key
from tracking.models import Click

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createmerchant_prints_one_json_object_with_a_working_api_key():
    data = json.loads(
        run(
            "createmerchant",
            "--email",
            "Owner@Shop.test",
            "--name",
            "Shop Inc",
            "--stripe-account",
            "acct_1Shop",
            "--password",
            "plum-kettle-orbit-47",
        )
    )
    merchant = Merchant.objects.get(public_id=data["id"])
    assert data["public_key"] == merchant.public_key and data["slug"] == merchant.slug == "shop-inc"
    assert merchant.stripe_account_id == "acct_1Shop" and merchant.is_stripe_connected
    assert data["owner_email"] == "owner@shop.test" and data["portal_url"].endswith("/p/shop-inc/")
    assert authenticate_api_key(data["api_key"]).merchant == merchant
    owner = User.objects.get(email="owner@shop.test")
    assert owner.check_password("plum-kettle-orbit-47")
    assert Membership.objects.get(merchant=merchant).role == "owner"
    assert Program.objects.filter(merchant=merchant, is_default=True).exists()


def test_createmerchant_without_a_password_prints_a_one_time_link_to_choose_one(client):
    data = json.loads(run("createmerchant", "--email", "nopass@shop.test", "--name", "No Pass"))
    owner = User.objects.get(email="nopass@shop.test")
    assert not owner.has_usable_password()
    response = client.get(urlsplit(data["set_password_url"]).path)
    assert response.status_code == 302  # Django swaps the token for a session, then asks for the password
    response = client.post(
        response.url, {"new_password1": "plum-kettle-orbit-47", "new_password2": "plum-kettle-orbit-47"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("plum-kettle-orbit-47")


def test_createmerchant_refuses_a_stripe_account_already_used_and_creates_nothing():
    run("createmerchant", "--email", "a@shop.test", "--name", "First", "--stripe-account", "acct_1Taken")
    before = (Merchant.objects.count(), User.objects.count(), ApiKey.objects.count())
    with pytest.raises(CommandError, match="already connected to another merchant"):
        run("createmerchant", "--email", "b@shop.test", "--name", "Second", "--stripe-account", "acct_1Taken")
    assert (Merchant.objects.count(), User.objects.count(), ApiKey.objects.count()) == before


@pytest.mark.parametrize(
    "args,message",
    [
        (["--email", "not-an-email", "--name", "X"], "not an email address"),
        (["--email", "x@shop.test", "--name", "X", "--stripe-account", "cus_123"], "not a Stripe account id"),
        (["--email", "x@shop.test", "--name", "X", "--password", "123"], "too short"),
    ],
)
def test_createmerchant_explains_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        run("createmerchant", *args)
    assert not Merchant.objects.exists()


def counts():
    return [m.objects.count() for m in (Merchant, User, Affiliate, Referral, Click, Commission, Payout)]


def test_seed_demo_gives_every_page_something_and_is_idempotent():
    first = run("seed_demo")
    assert "demo@afficone.test / afficone-demo" in first.splitlines()[0]
    merchant = Merchant.objects.get(slug="demo-coffee-co", name="Demo Coffee Co.")
    owner = User.objects.get(email="demo@afficone.test")
    assert owner.check_password("afficone-demo")
    assert Membership.objects.get(merchant=merchant, user=owner).role == "owner"
    affiliates = Affiliate.objects.for_merchant(merchant)
    assert affiliates.count() == 5 and affiliates.filter(status="pending").count() == 1
    clicks = Click.objects.for_merchant(merchant)
    assert clicks.count() > 200
    assert clicks.order_by("created_at").first().created_at < timezone.now() - timedelta(days=28)
    commissions = Commission.objects.for_merchant(merchant)
    assert commissions.filter(status="approved").exists() and commissions.filter(status="pending").exists()
    assert commissions.filter(is_recurring=True).exists() and commissions.filter(reversed_amount__gt=0).exists()
    paid = Payout.objects.for_merchant(merchant).get(status="paid")
    assert paid.amount == sum(c.net_amount for c in paid.commissions.all())
    assert "/demo/shop/" in first and "/p/demo-coffee-co/" in first

    before = counts()
    second = run("seed_demo")
    assert counts() == before
    assert second.splitlines()[0] == first.splitlines()[0]
    assert "nothing changed" in second
