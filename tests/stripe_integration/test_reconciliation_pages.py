"""The check for missed events on the Stripe pages: Settings -> Stripe (affiliates:settings), the Stripe page
(/stripe/) and the page the OAuth callback lands on, through the real views and the local fake of Stripe.

Tasks run eagerly here; the button with a real Celery worker is in test_reconciliation_worker.py.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from stripe_integration.connect import mark_stripe_disconnected
from stripe_integration.models import StripeEvent, StripeSync
from tenants.models import Membership, Merchant
from tests.factories import MembershipFactory, MerchantFactory
from tests.stripe_events import customer, make_event, now
from tests.stripe_integration.test_connect import consent, start

pytestmark = pytest.mark.django_db

SYNC = reverse("stripe_integration:sync")
SETTINGS = reverse("affiliates:settings")
STRIPE_PAGE = reverse("stripe_integration:connection")


def text(response) -> str:
    """The page's words, without tags and with whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode())).strip()


def sync_form(response) -> str | None:
    """The check's form on the page (None without one)."""
    match = re.search(rf'<form method="post" action="{SYNC}">.*?</form>', response.content.decode(), re.S)
    return match.group(0) if match else None


def csrf_token(form: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)


def seed(fake_stripe, merchant, count: int) -> list[dict]:
    events = [make_event("customer.created", customer(), account=merchant.stripe_account_id) for _ in range(count)]
    for index, event in enumerate(events):
        event["created"] = now() - count + index
        fake_stripe.add_event(event)
    return events


@pytest.fixture
def shop(db):
    return MerchantFactory(
        name="Northwind",
        stripe_account_id=None,
        stripe_status=Merchant.StripeStatus.NOT_CONNECTED,
        stripe_connected_at=None,
    )


def test_after_connecting_the_merchant_is_offered_the_last_30_days(
    client, shop, fake_stripe, django_capture_on_commit_callbacks
):
    client.force_login(MembershipFactory(merchant=shop, role=Membership.Role.OWNER).user)
    fake_stripe.add_account("acct_1NorthwindSYNC", name="Northwind")
    fake_stripe.authorize_as("acct_1NorthwindSYNC")
    shop.stripe_account_id = "acct_1NorthwindSYNC"  # only to build the events the account already has in Stripe
    earlier = seed(fake_stripe, shop, 2)

    landed = client.get(consent(start(client, next_url=SETTINGS)), follow=True)

    assert landed.redirect_chain == [(SETTINGS, 302)]
    page = text(landed)
    assert "Connected to the Stripe account Northwind." in page
    assert "Afficone can read the last 30 days of your Stripe account's events" in page
    form = sync_form(landed)
    assert form is not None and "Sync the last 30 days" in form and f'name="next" value="{SETTINGS}"' in form

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SYNC, {"next": SETTINGS}, follow=True)

    assert response.redirect_chain == [(SETTINGS, 302)]
    assert "Checking Stripe for events the webhook missed since" in text(response)
    run = StripeSync.objects.for_merchant(shop).get()
    assert (run.trigger, run.status, run.events_stored, run.account) == (
        "button",
        "succeeded",
        2,
        "acct_1NorthwindSYNC",
    )
    assert abs(run.since - (timezone.now() - timedelta(days=30))) < timedelta(minutes=1)
    assert set(StripeEvent.objects.for_merchant(shop).values_list("stripe_id", flat=True)) == {e["id"] for e in earlier}
    page = text(client.get(SETTINGS))
    assert "Sync the last 30 days" not in page and "Check for missed events" in page
    assert "2 the webhook had missed, stored and processed like any webhook event" in page


def test_the_button_needs_the_csrf_token_of_a_logged_in_owner(merchant, owner, fake_stripe):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)

    assert browser.post(SYNC).status_code == 403
    assert not StripeSync.objects.exists()

    form = sync_form(browser.get(SETTINGS))
    response = browser.post(SYNC, {"csrfmiddlewaretoken": csrf_token(form), "next": SETTINGS})

    assert response.status_code == 302 and response["Location"] == SETTINGS
    run = StripeSync.objects.for_merchant(merchant).get()
    assert (run.status, run.requested_by) == (StripeSync.Status.QUEUED, owner)  # its task runs once committed
    page = text(browser.get(SETTINGS))
    assert "Checking Stripe for events the webhook missed since" in page and "queued" in page

    # Asking again while it runs starts no second check.
    browser.post(SYNC, {"csrfmiddlewaretoken": csrf_token(form)})
    assert StripeSync.objects.for_merchant(merchant).count() == 1
    assert "is already running" in text(browser.get(STRIPE_PAGE))


def test_another_tenant_cannot_trigger_or_see_this_merchants_check(
    client, merchant, owner, other_merchant, other_owner, fake_stripe, django_capture_on_commit_callbacks
):
    seed(fake_stripe, merchant, 2)
    client.force_login(other_owner)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(SYNC).status_code == 302

    assert not StripeSync.objects.for_merchant(merchant).exists()
    assert not StripeEvent.objects.for_merchant(merchant).exists()
    assert StripeSync.objects.for_merchant(other_merchant).get().account == other_merchant.stripe_account_id
    assert {r.stripe_account for r in fake_stripe.requests_to("/v1/events")} == {other_merchant.stripe_account_id}
    client.force_login(owner)
    page = client.get(SETTINGS)
    assert "Sync the last 30 days" in text(page)  # nothing checked for this merchant yet


def test_members_who_cannot_manage_get_no_button_and_a_refusal(client, merchant, fake_stripe):
    client.force_login(MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER).user)

    assert sync_form(client.get(SETTINGS)) is None
    assert client.post(SYNC).status_code == 403
    assert not StripeSync.objects.exists() and fake_stripe.requests == []


def test_anonymous_visitors_are_sent_to_log_in(client, fake_stripe):
    response = client.post(SYNC)

    assert response.status_code == 302 and response["Location"].startswith(reverse("tenants:login"))
    assert not StripeSync.objects.exists()


def test_a_disconnected_merchant_gets_no_button_and_no_check(merchant_client, merchant, fake_stripe):
    mark_stripe_disconnected(merchant)

    assert sync_form(merchant_client.get(SETTINGS)) is None
    response = merchant_client.post(SYNC, follow=True)

    assert "Stripe is not connected, so there is nothing to check." in text(response)
    assert not StripeSync.objects.exists() and fake_stripe.requests == []


@pytest.mark.parametrize("url", [SETTINGS, STRIPE_PAGE])
def test_the_health_pages_show_the_last_check_and_what_it_found(merchant_client, merchant, other_merchant, url):
    at = timezone.now() - timedelta(hours=2)
    fields = dict(account=merchant.stripe_account_id, since=at - timedelta(days=30), started_at=at, finished_at=at)
    StripeSync.objects.create(
        merchant=merchant, trigger="nightly", status="succeeded", pages=3, events_seen=250, events_stored=0, **fields
    )
    StripeSync.objects.create(
        merchant=merchant, trigger="button", status="succeeded", pages=1, events_seen=19, events_stored=2, **fields
    )
    StripeSync.objects.create(
        merchant=other_merchant,
        trigger="button",
        status="failed",
        error="Stripe refused access to the account acct_theirs",
        **{**fields, "account": other_merchant.stripe_account_id},
    )

    page = text(merchant_client.get(url))

    since = dateformat.format(fields["since"], "j M Y, H:i") + " UTC"
    assert (
        f"Last check (Check for missed events) finished 2 hours ago: 19 events since {since} read from Stripe on "
        "1 page; 2 the webhook had missed, stored and processed like any webhook event."
    ) in page
    assert "acct_theirs" not in page and "250 events" not in page


def test_a_failed_check_shows_why(merchant_client, merchant):
    at = timezone.now() - timedelta(minutes=5)
    StripeSync.objects.create(
        merchant=merchant,
        account=merchant.stripe_account_id,
        trigger="nightly",
        status="failed",
        since=at - timedelta(days=1),
        started_at=at,
        finished_at=at,
        error="Stripe refused access to the account acct_x (HTTP 401): Afficone's access may have been revoked.",
    )

    page = text(merchant_client.get(SETTINGS))

    assert "Last check (Nightly check) stopped 5 minutes ago: 0 events" in page and "none stored." in page
    assert "Stripe refused access to the account acct_x (HTTP 401)" in page
    # The nightly check reads only from the connection on: the last 30 days are still on offer.
    assert "Sync the last 30 days" in page
