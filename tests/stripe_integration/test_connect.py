"""Connect with Stripe, through the real views, against a local server speaking Stripe's OAuth API.

A test plays the merchant's browser: GET /stripe/connect/, follow the redirect to the fake
Stripe's /oauth/authorize (which plays the consent screen), then GET the callback it redirects to.
"""

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from stripe_integration.connect import mark_stripe_disconnected
from stripe_integration.models import StripeEvent
from tenants.models import Membership, Merchant

from ..factories import MembershipFactory, MerchantFactory

CONNECT = reverse("stripe_integration:connect")
CALLBACK = reverse("stripe_integration:oauth_callback")
DISCONNECT = reverse("stripe_integration:disconnect")
PAGE = reverse("stripe_integration:connection")
SWITCH = reverse("tenants:switch")


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


def start(client, next_url: str | None = None) -> str:
    """GET /stripe/connect/ and return Stripe's authorize URL it redirects to."""
    response = client.get(CONNECT, {"next": next_url} if next_url else {})
    assert response.status_code == 302
    return response["Location"]


def consent(authorize_url: str) -> str:
    """The user's browser at Stripe's consent screen: returns the callback URL Stripe sends it back to."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def with_params(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


def assert_not_connected(merchant):
    merchant.refresh_from_db()
    assert merchant.stripe_account_id is None
    assert merchant.stripe_account_name == ""
    assert merchant.stripe_status == Merchant.StripeStatus.NOT_CONNECTED
    assert merchant.stripe_connected_at is None


# --- connecting ---------------------------------------------------------------------------------------------------


def test_connect_sends_the_merchant_to_stripe_asking_for_read_only_access(owner_client, fake_stripe, settings):
    url = urlsplit(start(owner_client))
    params = {k: v[0] for k, v in parse_qs(url.query).items()}

    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake_stripe.base_url}/oauth/authorize"
    assert params["response_type"] == "code"
    assert params["client_id"] == settings.STRIPE_CLIENT_ID
    assert params["scope"] == "read_only"
    assert params["redirect_uri"] == "http://testserver" + CALLBACK
    assert len(params["state"]) > 40


def test_connecting_stores_the_account_and_shows_its_name(owner_client, shop, fake_stripe, stripe_account, settings):
    fake_stripe.authorize_as(stripe_account["id"])
    callback = consent(start(owner_client))

    response = owner_client.get(callback, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    page = response.content.decode()
    assert "Connected to the Stripe account Northwind." in page
    assert "Northwind" in page and "acct_1NorthwindAAAA" in page and "Disconnect Stripe" in page
    shop.refresh_from_db()
    assert shop.stripe_account_id == "acct_1NorthwindAAAA"
    assert shop.stripe_account_name == "Northwind"
    assert shop.stripe_status == Merchant.StripeStatus.CONNECTED and shop.is_stripe_connected
    assert timezone.now() - shop.stripe_connected_at < timezone.timedelta(minutes=1)
    # What went to Stripe: the code exchanged with the platform's secret key, then the account read.
    (token_request,) = fake_stripe.requests_to("/oauth/token", "POST")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert token_request.form == {"grant_type": "authorization_code", "code": code}
    assert token_request.bearer == settings.STRIPE_SECRET_KEY
    (account_request,) = fake_stripe.requests_to("/v1/accounts/acct_1NorthwindAAAA", "GET")
    assert account_request.bearer == settings.STRIPE_SECRET_KEY


def test_account_without_display_name_falls_back_to_business_name(owner_client, shop, fake_stripe):
    fake_stripe.add_account("acct_1PlainBBBB", name="Plain Goods Ltd", display_name="")
    fake_stripe.authorize_as("acct_1PlainBBBB")

    owner_client.get(consent(start(owner_client)))

    shop.refresh_from_db()
    assert (shop.stripe_account_id, shop.stripe_account_name) == ("acct_1PlainBBBB", "Plain Goods Ltd")


def test_account_details_unavailable_still_connects_and_shows_the_id(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    fake_stripe.fail(f"/v1/accounts/{stripe_account['id']}", status=503, should_retry=False)

    response = owner_client.get(consent(start(owner_client)), follow=True)

    assert "Connected to the Stripe account acct_1NorthwindAAAA." in response.content.decode()
    shop.refresh_from_db()
    assert (shop.stripe_account_id, shop.stripe_account_name, shop.stripe_status) == (
        "acct_1NorthwindAAAA",
        "",
        Merchant.StripeStatus.CONNECTED,
    )


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/onboarding/", "/onboarding/"),
        ("https://evil.example/phish", PAGE),
        ("//evil.example/phish", PAGE),
    ],
)
def test_after_connecting_the_merchant_returns_to_the_page_it_came_from_on_this_site_only(
    owner_client, fake_stripe, stripe_account, next_url, lands_on
):
    fake_stripe.authorize_as(stripe_account["id"])

    response = owner_client.get(consent(start(owner_client, next_url)))

    assert response.status_code == 302
    assert response["Location"] == lands_on


# --- refused callbacks: a clear message, nothing stored -------------------------------------------------------------


def test_declined_consent_connects_nothing(owner_client, shop, fake_stripe):
    fake_stripe.authorize_as(None)  # the user clicks "Deny" on Stripe
    callback = consent(start(owner_client, "/onboarding/"))
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]

    response = owner_client.get(callback)

    assert response.status_code == 302 and response["Location"] == "/onboarding/"
    page = owner_client.get(PAGE).content.decode()
    assert "You declined the connection on Stripe, so nothing was connected." in page
    assert_not_connected(shop)
    assert fake_stripe.requests_to("/oauth/token") == []


def test_other_stripe_error_shows_its_code_but_never_text_from_the_url(owner_client, shop, fake_stripe):
    start(owner_client)

    response = owner_client.get(
        CALLBACK, {"error": "invalid_scope", "error_description": "Call 555-0100 now"}, follow=True
    )

    page = response.content.decode()
    assert "Stripe did not connect the account (error: invalid_scope)." in page
    assert "555-0100" not in page
    assert_not_connected(shop)


def test_tampered_state_is_refused(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    callback = consent(start(owner_client))
    state = parse_qs(urlsplit(callback).query)["state"][0]
    payload, rest = state.split(":", 1)
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + ":" + rest

    response = owner_client.get(with_params(callback, state=forged))

    assert response.status_code == 400
    assert "The reply from Stripe could not be verified" in response.content.decode()
    assert_not_connected(shop)
    assert fake_stripe.requests_to("/oauth/token") == []


def test_missing_state_is_refused(owner_client, shop, fake_stripe, stripe_account):
    start(owner_client)
    code = fake_stripe.issue_code(stripe_account["id"])

    response = owner_client.get(CALLBACK, {"code": code})

    assert response.status_code == 400
    assert_not_connected(shop)
    assert fake_stripe.requests_to("/oauth/token") == []


def test_expired_state_is_refused(owner_client, shop, fake_stripe, stripe_account, monkeypatch):
    fake_stripe.authorize_as(stripe_account["id"])
    callback = consent(start(owner_client))

    class ElevenMinutesLater:  # the clock django.core.signing reads
        @staticmethod
        def time(real=time.time):
            return real() + 11 * 60

    monkeypatch.setattr(signing, "time", ElevenMinutesLater)
    response = owner_client.get(callback)

    assert response.status_code == 400
    assert "was not completed within 10 minutes and has expired" in response.content.decode()
    assert_not_connected(shop)
    assert fake_stripe.requests_to("/oauth/token") == []


def test_a_state_works_only_once(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    callback = consent(start(owner_client))
    assert owner_client.get(callback).status_code == 302
    Merchant.objects.filter(pk=shop.pk).update(stripe_account_name="before the replay")

    replay = owner_client.get(callback)

    assert replay.status_code == 400
    assert "has already been used" in replay.content.decode()
    shop.refresh_from_db()
    assert shop.stripe_account_name == "before the replay"
    assert len(fake_stripe.requests_to("/oauth/token")) == 1


def test_a_newer_connect_attempt_voids_the_older_state(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    first = consent(start(owner_client))
    start(owner_client)  # the merchant clicked Connect again in another tab

    response = owner_client.get(first)

    assert response.status_code == 400
    assert_not_connected(shop)


def test_state_of_another_user_is_refused(
    client, shop, shop_owner, fake_stripe, stripe_account, other_merchant, other_owner
):
    fake_stripe.authorize_as(stripe_account["id"])
    client.force_login(shop_owner)
    victims_callback = consent(start(client))  # e.g. a callback link sent to someone else
    client.logout()
    client.force_login(other_owner)
    start(client)  # the other user has a flow of their own in progress

    response = client.get(victims_callback)

    assert response.status_code == 400
    assert "Nothing was connected" in response.content.decode()
    assert_not_connected(shop)
    other_merchant.refresh_from_db()
    assert other_merchant.stripe_account_id != stripe_account["id"]
    assert fake_stripe.requests_to("/oauth/token") == []


def test_state_issued_for_another_merchant_of_the_same_user_is_refused(
    owner_client, shop, shop_owner, fake_stripe, stripe_account
):
    second = MerchantFactory(
        name="Southwind",
        stripe_account_id=None,
        stripe_status=Merchant.StripeStatus.NOT_CONNECTED,
        stripe_connected_at=None,
    )
    MembershipFactory(merchant=second, user=shop_owner, role=Membership.Role.OWNER)
    fake_stripe.authorize_as(stripe_account["id"])
    owner_client.post(SWITCH, {"merchant": shop.public_id})
    callback = consent(start(owner_client))
    owner_client.post(SWITCH, {"merchant": second.public_id})  # switched merchant before coming back from Stripe

    response = owner_client.get(callback)

    assert response.status_code == 400
    assert "for another merchant than Southwind" in response.content.decode()
    assert_not_connected(shop)
    assert_not_connected(second)
    assert fake_stripe.requests_to("/oauth/token") == []


def test_invalid_code_shows_stripes_reason(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    callback = consent(start(owner_client))

    response = owner_client.get(with_params(callback, code="ac_doesnotexist"))

    assert response.status_code == 400
    assert "Stripe did not accept the authorization (Authorization code does not exist: ac_doesnotexist)" in (
        response.content.decode()
    )
    assert_not_connected(shop)
    (token_request,) = fake_stripe.requests_to("/oauth/token")
    assert token_request.form["code"] == "ac_doesnotexist"


def test_stripe_unreachable_during_the_exchange_connects_nothing(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    fake_stripe.fail("/oauth/token", status=500, should_retry=False)

    response = owner_client.get(consent(start(owner_client)))

    assert response.status_code == 502
    assert "Stripe could not be reached or had a problem. Nothing was connected" in response.content.decode()
    assert_not_connected(shop)


def test_account_connected_to_another_merchant_is_refused(owner_client, shop, fake_stripe, merchant):
    taken = merchant.stripe_account_id  # the `merchant` fixture is connected to this account
    fake_stripe.add_account(taken, name="Acme Analytics")
    fake_stripe.authorize_as(taken)

    response = owner_client.get(consent(start(owner_client)))

    assert response.status_code == 400
    assert f"The Stripe account {taken} is already connected to another merchant" in response.content.decode()
    assert_not_connected(shop)
    merchant.refresh_from_db()
    assert (merchant.stripe_account_id, merchant.stripe_status) == (taken, Merchant.StripeStatus.CONNECTED)
    assert fake_stripe.requests_to("/oauth/deauthorize") == []  # the other merchant's access is left alone


def test_account_another_merchant_disconnected_can_be_connected_here(owner_client, shop, fake_stripe, merchant):
    freed = merchant.stripe_account_id
    mark_stripe_disconnected(merchant)
    fake_stripe.add_account(freed, name="Acme Analytics")
    fake_stripe.authorize_as(freed)

    assert owner_client.get(consent(start(owner_client))).status_code == 302

    shop.refresh_from_db()
    merchant.refresh_from_db()
    assert (shop.stripe_account_id, shop.stripe_status) == (freed, Merchant.StripeStatus.CONNECTED)
    assert merchant.stripe_account_id is None and merchant.stripe_status == Merchant.StripeStatus.DISCONNECTED


def test_reconnecting_the_same_account_is_fine(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    owner_client.get(consent(start(owner_client)))
    owner_client.post(DISCONNECT)
    shop.refresh_from_db()
    assert shop.stripe_status == Merchant.StripeStatus.DISCONNECTED

    response = owner_client.get(consent(start(owner_client)), follow=True)

    assert "Connected to the Stripe account Northwind." in response.content.decode()
    shop.refresh_from_db()
    assert (shop.stripe_account_id, shop.stripe_status, shop.stripe_disconnected_at) == (
        stripe_account["id"],
        Merchant.StripeStatus.CONNECTED,
        None,
    )
    assert fake_stripe.is_connected(stripe_account["id"])


def test_switching_to_another_account_revokes_access_to_the_old_one(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    owner_client.get(consent(start(owner_client)))
    fake_stripe.add_account("acct_1NewShopCCCC", name="Northwind EU")
    fake_stripe.authorize_as("acct_1NewShopCCCC")

    owner_client.get(consent(start(owner_client)))

    shop.refresh_from_db()
    assert (shop.stripe_account_id, shop.stripe_account_name) == ("acct_1NewShopCCCC", "Northwind EU")
    (revoke,) = fake_stripe.requests_to("/oauth/deauthorize")
    assert revoke.form["stripe_user_id"] == stripe_account["id"]
    assert not fake_stripe.is_connected(stripe_account["id"])


# --- disconnecting ------------------------------------------------------------------------------------------------


@pytest.fixture
def connected_client(owner_client, shop, fake_stripe, stripe_account):
    fake_stripe.authorize_as(stripe_account["id"])
    owner_client.get(consent(start(owner_client)))
    shop.refresh_from_db()
    assert shop.is_stripe_connected
    return owner_client


def test_disconnect_revokes_access_at_stripe_and_keeps_the_account_id(connected_client, shop, fake_stripe, settings):
    response = connected_client.post(DISCONNECT, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    page = response.content.decode()
    assert "Stripe is disconnected." in page and "Reconnect Stripe" in page
    (revoke,) = fake_stripe.requests_to("/oauth/deauthorize", "POST")
    assert revoke.form == {"client_id": settings.STRIPE_CLIENT_ID, "stripe_user_id": "acct_1NorthwindAAAA"}
    assert revoke.bearer == settings.STRIPE_SECRET_KEY
    assert not fake_stripe.is_connected("acct_1NorthwindAAAA")
    shop.refresh_from_db()
    # Kept, so Stripe's later events still name this merchant: stored, but not attributed.
    assert shop.stripe_account_id == "acct_1NorthwindAAAA"
    assert shop.stripe_status == Merchant.StripeStatus.DISCONNECTED and not shop.is_stripe_connected
    assert timezone.now() - shop.stripe_disconnected_at < timezone.timedelta(minutes=1)


def test_disconnect_returns_to_the_page_it_came_from(connected_client):
    response = connected_client.post(DISCONNECT, {"next": "/settings/"})

    assert response.status_code == 302 and response["Location"] == "/settings/"


def test_disconnect_when_already_revoked_in_stripe_marks_the_merchant_disconnected(connected_client, shop, fake_stripe):
    requests.post(
        f"{fake_stripe.base_url}/oauth/deauthorize",
        timeout=5,  # the merchant revoked it in Stripe
        headers={"Authorization": f"Bearer {fake_stripe.secret_key}"},
        data={"client_id": fake_stripe.client_id, "stripe_user_id": shop.stripe_account_id},
    )

    response = connected_client.post(DISCONNECT)

    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.stripe_status == Merchant.StripeStatus.DISCONNECTED


def test_disconnect_while_stripe_is_unreachable_changes_nothing(connected_client, shop, fake_stripe):
    fake_stripe.fail("/oauth/deauthorize", status=500, should_retry=False)

    response = connected_client.post(DISCONNECT)

    assert response.status_code == 502
    assert "Stripe could not be reached or had a problem. The account is still connected" in response.content.decode()
    shop.refresh_from_db()
    assert shop.stripe_status == Merchant.StripeStatus.CONNECTED and shop.stripe_disconnected_at is None


def test_disconnect_with_a_refused_platform_key_says_the_installation_is_misconfigured(
    connected_client, shop, fake_stripe, settings
):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"

    response = connected_client.post(DISCONNECT)

    assert response.status_code == 502
    assert "Stripe refused this Afficone installation&#x27;s platform key" in response.content.decode()
    shop.refresh_from_db()
    assert shop.is_stripe_connected
    assert fake_stripe.requests_to("/oauth/deauthorize")[0].bearer == "sk_test_wrong"


def test_disconnect_without_a_connection_is_refused(owner_client, shop, fake_stripe):
    response = owner_client.post(DISCONNECT)

    assert response.status_code == 400
    assert "No Stripe account is connected" in response.content.decode()
    assert_not_connected(shop)
    assert fake_stripe.requests == []


def test_disconnect_needs_a_post(connected_client, shop):
    assert connected_client.get(DISCONNECT).status_code == 405
    shop.refresh_from_db()
    assert shop.is_stripe_connected


def test_deauthorized_event_is_idempotent_and_does_not_undo_a_later_reconnection(shop, fake_stripe):
    connected_at = timezone.now()
    Merchant.objects.filter(pk=shop.pk).update(
        stripe_account_id="acct_1LateDDDD",
        stripe_connected_at=connected_at,
        stripe_status=Merchant.StripeStatus.CONNECTED,
    )
    shop.refresh_from_db()

    # An account.application.deauthorized created before the latest connection is stale.
    assert mark_stripe_disconnected(shop, occurred_at=connected_at - timezone.timedelta(seconds=5)) is False
    assert shop.is_stripe_connected
    assert mark_stripe_disconnected(shop, occurred_at=connected_at + timezone.timedelta(seconds=5)) is True
    assert mark_stripe_disconnected(shop, occurred_at=connected_at + timezone.timedelta(seconds=6)) is False
    shop.refresh_from_db()
    assert shop.stripe_status == Merchant.StripeStatus.DISCONNECTED
    assert shop.stripe_account_id == "acct_1LateDDDD"


# --- who may do it ------------------------------------------------------------------------------------------------


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
    assert f'href="{CONNECT}?next=/stripe/"' in page
    assert "read-only access" in page


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
