"""Every email the app sends is plain text: names with ', & and < read as typed, never as HTML entities.

Each email is triggered the way a user triggers it (the public URLs, a signed Stripe event through the webhook),
for a merchant, a team member and an affiliate whose names carry the characters HTML escaping rewrites.
"""

import re
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client

from affiliates.models import Affiliate, Commission, Payout
from affiliates.services import create_default_program
from tenants.models import Merchant
from tests.factories import PASSWORD, MembershipFactory, ReferralFactory
from tests.stripe_events import checkout_session, make_event, post_event

pytestmark = pytest.mark.django_db

MERCHANT_NAME = "O'Reilly & Sons <Coffee>"
OWNER_NAME = 'Seán "Shay" O\'Neil & <Co>'
OWNER_EMAIL = "o'neil&co@example.com"
AFFILIATE_NAME = "Zoë O'Hara & <Partners>"
AFFILIATE_EMAIL = "zoe.o'hara&partners@example.net"
PAYOUT_REFERENCE = "R&D's <batch> 7"
# What Django's HTML escaping makes of ', ", &, < and >.
ENTITIES = re.compile(r"&(#x27|#39|#34|quot|amp|lt|gt);")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def shop(db):
    merchant = Merchant.objects.create(
        name=MERCHANT_NAME, slug="oreilly", stripe_account_id="acct_oreilly000001", stripe_status="connected"
    )
    create_default_program(merchant)
    return merchant


@pytest.fixture
def shop_owner(shop):
    return MembershipFactory(merchant=shop, user__email=OWNER_EMAIL, user__name=OWNER_NAME).user


@pytest.fixture
def owner_client(shop_owner):
    """The owner's own browser, apart from `client` (the affiliate's)."""
    owner = Client()
    owner.force_login(shop_owner)
    return owner


def only_email(to: str):
    assert [m.to for m in mail.outbox] == [[to]]
    message = mail.outbox[0]
    mail.outbox.clear()
    return message


def assert_plain(message, *, subject: tuple[str, ...] = (), body: tuple[str, ...]) -> None:
    assert not ENTITIES.search(message.subject), message.subject
    assert not ENTITIES.search(message.body), message.body
    for text in subject:
        assert text in message.subject, (text, message.subject)
    for text in body:
        assert text in message.body, (text, message.body)


def test_team_invitation_reads_the_merchant_and_inviter_names_as_typed(
    owner_client, shop, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/settings/team/", {"email": "new.person@example.com", "role": "member"})
    assert response.status_code == 302
    message = only_email("new.person@example.com")
    assert_plain(message, subject=(OWNER_NAME, MERCHANT_NAME), body=(OWNER_NAME, MERCHANT_NAME))


def test_dashboard_password_reset_names_the_address_as_typed(client, shop_owner):
    response = client.post("/password-reset/", {"email": OWNER_EMAIL})
    assert response.status_code == 302
    message = only_email(OWNER_EMAIL)
    assert_plain(message, body=(OWNER_EMAIL,))
    assert re.search(r"/password-reset/[\w-]+/[\w-]+/", message.body)


def test_affiliate_emails_from_invitation_to_payout_read_every_name_as_typed(
    client, owner_client, shop, shop_owner, fake_stripe, django_capture_on_commit_callbacks
):
    # The merchant invites an affiliate from the dashboard.
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/affiliates/invite/", {"email": AFFILIATE_EMAIL, "name": AFFILIATE_NAME, "code": "zoe"}
        )
    assert response.status_code == 302
    invited = only_email(AFFILIATE_EMAIL)
    assert_plain(invited, subject=(MERCHANT_NAME,), body=(AFFILIATE_NAME, MERCHANT_NAME))
    affiliate = Affiliate.objects.get(merchant=shop, code="zoe")

    # The affiliate resets their portal password.
    client.post(
        f"/p/{shop.slug}/invite/{re.search(r'/invite/([^/]+)/', invited.body).group(1)}/", {"password": PASSWORD}
    )
    affiliate.refresh_from_db()
    assert affiliate.user is not None
    client.logout()
    response = client.post(f"/p/{shop.slug}/password-reset/", {"email": AFFILIATE_EMAIL})
    assert response.status_code == 302
    assert_plain(only_email(AFFILIATE_EMAIL), subject=(MERCHANT_NAME,), body=(AFFILIATE_EMAIL, MERCHANT_NAME))

    # A payment through the affiliate's referral earns a commission, and the affiliate hears of it.
    referral = ReferralFactory(affiliate=affiliate)
    session = checkout_session(client_reference_id=referral.rid, amount_total=10000)
    response = post_event(client, make_event("checkout.session.completed", session, account=shop.stripe_account_id))
    assert response.status_code == 200
    commission = Commission.objects.for_merchant(shop).get(affiliate=affiliate)
    assert_plain(only_email(AFFILIATE_EMAIL), subject=("$20.00", MERCHANT_NAME), body=(AFFILIATE_NAME, MERCHANT_NAME))

    # The merchant pays it out with a reference.
    Commission.objects.filter(pk=commission.pk).update(status=Commission.Status.APPROVED, amount=6000)
    assert owner_client.post("/payouts/batches/").status_code == 302
    payout = Payout.objects.for_merchant(shop).get(affiliate=affiliate)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/payouts/{payout.public_id}/paid/", {"reference": PAYOUT_REFERENCE})
    assert response.status_code == 302
    assert_plain(
        only_email(AFFILIATE_EMAIL), subject=(MERCHANT_NAME,), body=(AFFILIATE_NAME, MERCHANT_NAME, PAYOUT_REFERENCE)
    )


def test_affiliate_application_and_approval_read_every_name_as_typed(
    client, owner_client, shop, shop_owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/p/{shop.slug}/join/", {"name": AFFILIATE_NAME, "email": AFFILIATE_EMAIL, "password": PASSWORD}
        )
    assert response.status_code == 302
    assert_plain(
        only_email(OWNER_EMAIL), subject=(AFFILIATE_EMAIL,), body=(AFFILIATE_NAME, AFFILIATE_EMAIL, MERCHANT_NAME)
    )

    affiliate = Affiliate.objects.get(merchant=shop, email=AFFILIATE_EMAIL)
    assert affiliate.status == Affiliate.Status.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/affiliates/{affiliate.public_id}/status/", {"status": "approved"})
    assert response.status_code == 302
    assert_plain(only_email(AFFILIATE_EMAIL), subject=(MERCHANT_NAME,), body=(AFFILIATE_NAME, MERCHANT_NAME))


def test_every_plain_text_template_turns_html_escaping_off():
    """A new email template gets the same treatment: every .txt template renders without HTML escaping."""
    texts = sorted(TEMPLATES.rglob("*.txt"))
    assert len(texts) >= 16
    unescaped = [
        str(path.relative_to(TEMPLATES))
        for path in texts
        if not (path.read_text().startswith("{% autoescape off %}") and "{% endautoescape %}" in path.read_text())
    ]
    assert unescaped == []
