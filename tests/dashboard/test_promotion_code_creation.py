"""Creating promotion codes in the merchant's Stripe account from a coupon, where the merchant granted write access when
connecting: the connection asks Stripe for `read_write` only when the merchant ticks the box, the affiliate page offers
the form only then, and a read-only account is never written to. Stripe is tests/fake_stripe/, which refuses the write
(403 permission_error) on an account that did not grant it, as Stripe does."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from stripe_integration.models import PromotionCode
from tenants.models import Merchant
from tests.factories import AffiliateFactory, MerchantFactory
from tests.stripe_events import coupon, promotion_code

pytestmark = pytest.mark.django_db


def detail(affiliate) -> str:
    return reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id})


def create(merchant_client, affiliate, **form):
    url = reverse("affiliates:promotion_code_create", kwargs={"uid": affiliate.public_id})
    return merchant_client.post(url, form, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def creations(fake_stripe) -> list[dict]:
    return [r.form for r in fake_stripe.requests_to("/v1/promotion_codes", "POST")]


@pytest.fixture
def spring(fake_stripe, merchant):
    return fake_stripe.put(coupon(id="SPRING20"), account=merchant.stripe_account_id)


@pytest.fixture
def writable(fake_stripe, merchant):
    Merchant.objects.filter(pk=merchant.pk).update(stripe_scope=Merchant.StripeScope.READ_WRITE)
    fake_stripe.grant_write(merchant.stripe_account_id)
    merchant.refresh_from_db()
    return merchant


def test_connecting_with_the_box_ticked_asks_for_read_write_and_keeps_the_scope(merchant_client, merchant, fake_stripe):
    Merchant.objects.filter(pk=merchant.pk).update(stripe_status=Merchant.StripeStatus.NOT_CONNECTED)
    account = fake_stripe.add_account(merchant.stripe_account_id, name="Acme", display_name="Acme")
    fake_stripe.authorize_as(account["id"])

    authorize = merchant_client.get(reverse("stripe_integration:connect"), {"access": "write"})["Location"]
    assert parse_qs(urlsplit(authorize).query)["scope"] == ["read_write"]
    callback = requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"]
    page = merchant_client.get(callback, follow=True).content.decode()

    merchant.refresh_from_db()
    assert (merchant.stripe_status, merchant.stripe_scope) == ("connected", "read_write")
    assert "Read and write: Afficone reads payments" in page and "creates the promotion codes you ask for" in page
    # Reconnecting from the page keeps asking for what was granted.
    assert "access=write" in page.split("Reconnect</a>")[0].rsplit("<a", 1)[1]


def test_connecting_without_the_box_stays_read_only(merchant_client, merchant, fake_stripe, affiliate):
    Merchant.objects.filter(pk=merchant.pk).update(
        stripe_status=Merchant.StripeStatus.NOT_CONNECTED, stripe_scope=Merchant.StripeScope.READ_WRITE
    )
    fake_stripe.add_account(merchant.stripe_account_id, name="Acme")
    fake_stripe.authorize_as(merchant.stripe_account_id)

    authorize = merchant_client.get(reverse("stripe_integration:connect"))["Location"]
    assert parse_qs(urlsplit(authorize).query)["scope"] == ["read_only"]
    merchant_client.get(requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"])

    merchant.refresh_from_db()
    assert merchant.stripe_scope == "read_only"  # the new grant replaced the old one
    page = merchant_client.get(detail(affiliate)).content.decode()
    assert "Create a code in Stripe" not in page and "reconnect Stripe with write access" in page


def test_a_read_only_merchant_cannot_create_and_stripe_is_not_asked(merchant_client, merchant, affiliate, fake_stripe):
    response = create(merchant_client, affiliate, coupon="SPRING20", code="ALICE")

    assert any("read-only access to your Stripe account" in m for m in messages_of(response))
    assert creations(fake_stripe) == [] and not PromotionCode.objects.exists()


def test_a_code_is_created_from_the_coupon_assigned_and_not_created_twice(
    merchant_client, writable, affiliate, fake_stripe, spring
):
    page = merchant_client.get(detail(affiliate)).content.decode()
    assert "Create a code in Stripe" in page and 'value="ALICE"' in page  # the affiliate's code, suggested

    response = create(merchant_client, affiliate, coupon="SPRING20", code="")

    assert response.redirect_chain[-1][0].endswith("#promotion-codes")
    assert any("Created ALICE in your Stripe account (coupon SPRING20)" in m for m in messages_of(response))
    [sent] = creations(fake_stripe)
    assert sent["promotion[coupon]"] == "SPRING20" and sent["code"] == "ALICE"
    assert sent["metadata[afficone_affiliate]"] == str(affiliate.public_id)
    row = PromotionCode.objects.for_merchant(writable).get()
    assert (row.affiliate, row.code, row.coupon_id) == (affiliate, "ALICE", "SPRING20")
    assert fake_stripe.get("promotion_code", row.stripe_id, account=writable.stripe_account_id)["code"] == "ALICE"
    assert "<code>ALICE</code>" in merchant_client.get(detail(affiliate)).content.decode()

    again = create(merchant_client, affiliate, coupon="SPRING20", code="ALICE2")
    assert any("Created ALICE" in m for m in messages_of(again))  # the code it already holds from that coupon
    assert len(creations(fake_stripe)) == 1 and PromotionCode.objects.count() == 1


def test_unknown_coupon_taken_text_and_bad_text_are_refused_and_nothing_is_kept(
    merchant_client, writable, affiliate, fake_stripe, spring
):
    fake_stripe.put(promotion_code(code="ALICE", coupon="SPRING20"), account=writable.stripe_account_id)

    unknown = create(merchant_client, affiliate, coupon="NOPE", code="ALICE9")
    taken = create(merchant_client, affiliate, coupon="SPRING20", code="alice")
    bad = create(merchant_client, affiliate, coupon="SPRING20", code="ALICE 20%")

    assert any("Stripe did not create the code ALICE9: No such coupon: 'NOPE'" in m for m in messages_of(unknown))
    assert any("already exists" in m for m in messages_of(taken))
    assert any("letters, digits and dashes" in m for m in messages_of(bad))
    assert len(creations(fake_stripe)) == 2 and not PromotionCode.objects.exists()


def test_access_revoked_in_stripe_is_said_plainly(merchant_client, merchant, affiliate, fake_stripe, spring):
    Merchant.objects.filter(pk=merchant.pk).update(stripe_scope=Merchant.StripeScope.READ_WRITE)  # Stripe disagrees

    response = create(merchant_client, affiliate, coupon="SPRING20")

    assert any("no longer lets Afficone create promotion codes" in m for m in messages_of(response))
    assert not PromotionCode.objects.exists()


def test_another_merchants_affiliate_is_404_and_nothing_is_created(merchant_client, writable, fake_stripe, spring):
    stranger = AffiliateFactory(merchant=MerchantFactory())

    url = reverse("affiliates:promotion_code_create", kwargs={"uid": stranger.public_id})
    assert merchant_client.post(url, {"coupon": "SPRING20"}).status_code == 404
    assert creations(fake_stripe) == []
