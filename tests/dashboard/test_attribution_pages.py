"""The affiliate page's promotion codes and "Attribute a customer": what they show, what their forms change, 404 for
another merchant's ids. The merchant's Stripe account is tests/fake_stripe/, reached through the real StripeClient."""

import re

import pytest
from django.test import TestCase
from django.urls import reverse

from affiliates.models import Commission, Program, Referral
from stripe_integration.models import CustomerBackfill, PromotionCode
from tests.factories import AffiliateFactory
from tests.stripe_events import charge, customer, new_id, promotion_code

pytestmark = pytest.mark.django_db


def page(merchant_client, affiliate) -> str:
    response = merchant_client.get(reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}))
    assert response.status_code == 200
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def maya20(fake_stripe, merchant):
    return fake_stripe.put(promotion_code(code="MAYA20"), account=merchant.stripe_account_id)


def add_code(merchant_client, affiliate, text):
    url = reverse("affiliates:promotion_code_add", kwargs={"uid": affiliate.public_id})
    return merchant_client.post(url, {"code": text}, follow=True)


def test_a_code_is_added_by_its_text_listed_and_removed(merchant_client, merchant, affiliate, maya20):
    response = add_code(merchant_client, affiliate, "maya20")
    assert response.redirect_chain[-1][0].endswith("#promotion-codes")
    assert any("MAYA20 now earn for" in m for m in messages_of(response))
    body = page(merchant_client, affiliate)
    assert "<code>MAYA20</code>" in body and maya20["id"] in body
    row = PromotionCode.objects.for_merchant(merchant).get()
    assert (row.affiliate, row.stripe_id) == (affiliate, maya20["id"])

    remove = reverse("affiliates:promotion_code_remove", kwargs={"uid": affiliate.public_id, "pk": row.pk})
    assert merchant_client.post(remove).status_code == 302
    assert not PromotionCode.objects.exists()
    assert "No promotion codes yet" in page(merchant_client, affiliate)


def test_an_unknown_code_or_one_held_by_another_affiliate_is_refused(merchant_client, merchant, affiliate, maya20):
    unknown = add_code(merchant_client, affiliate, "NOPE")
    assert any("has no promotion code NOPE" in m for m in messages_of(unknown))
    bob = AffiliateFactory(merchant=merchant, program=affiliate.program, code="bob")
    add_code(merchant_client, bob, maya20["id"])
    taken = add_code(merchant_client, affiliate, "MAYA20")
    assert any("already assigned to" in m for m in messages_of(taken))
    assert [r.affiliate for r in PromotionCode.objects.all()] == [bob]


def test_another_merchants_affiliate_and_codes_are_404(merchant_client, other_merchant, fake_stripe, maya20):
    theirs = AffiliateFactory(merchant=other_merchant, code="theirs")
    code = PromotionCode.objects.create(merchant=other_merchant, affiliate=theirs, stripe_id=new_id("promo"), code="X")
    kwargs = {"uid": theirs.public_id}
    for url in (
        reverse("affiliates:promotion_code_add", kwargs=kwargs),
        reverse("affiliates:promotion_code_remove", kwargs={**kwargs, "pk": code.pk}),
        reverse("affiliates:attribute_customer", kwargs=kwargs),
    ):
        assert merchant_client.post(url, {"code": "MAYA20", "customer": "cus_x"}).status_code == 404
    assert merchant_client.get(reverse("affiliates:attribute_customer", kwargs=kwargs), {"q": "x"}).status_code == 404
    assert PromotionCode.objects.get() == code and fake_stripe.requests == []


def test_attributing_a_customer_found_by_email_shows_what_was_credited(
    merchant_client, merchant, affiliate, fake_stripe
):
    account = merchant.stripe_account_id
    dana = fake_stripe.put(customer(email="Dana@Example.org", name="Dana Scully"), account=account)
    for amount in (3000, 7000):
        fake_stripe.put(charge(customer=dana["id"], payment_intent=new_id("pi"), amount=amount), account=account)
    url = reverse("affiliates:attribute_customer", kwargs={"uid": affiliate.public_id})

    found = merchant_client.get(url, {"q": "dana@example.org"})  # not the exact case: Stripe's search finds it
    assert found.status_code == 200
    body = found.content.decode()
    assert dana["id"] in body and "Dana Scully" in body and 'name="customer"' in body
    assert fake_stripe.requests_to("/v1/customers/search")[0].query["query"] == "email:'dana@example.org'"

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = merchant_client.post(url, {"customer": dana["id"]})
    assert response.status_code == 302 and response["Location"].endswith("#attributed")
    referral = Referral.objects.get(merchant=merchant, stripe_customer_id=dana["id"])
    assert (referral.affiliate, referral.source) == (affiliate, Referral.Source.MANUAL)
    assert sorted(Commission.objects.for_merchant(merchant).values_list("amount", flat=True)) == [600, 1400]
    body = page(merchant_client, affiliate)
    assert re.search(r"2 payments credited, \$20\.00", body), body
    assert '<span class="badge">manual</span>' in body  # the referral's source

    # Found again, the customer is shown as attributed, with no button; posting anyway is refused.
    again = merchant_client.get(url, {"q": dana["id"]}).content.decode()
    assert f"attributed to {affiliate}" in again and 'name="customer"' not in again
    refused = merchant_client.post(url, {"customer": dana["id"]}, follow=True)
    assert any("already attributed" in m for m in messages_of(refused))
    assert Referral.objects.filter(stripe_customer_id=dana["id"]).count() == 1


def test_an_unknown_customer_is_reported_and_nothing_is_bound(merchant_client, merchant, affiliate, fake_stripe):
    url = reverse("affiliates:attribute_customer", kwargs={"uid": affiliate.public_id})
    assert "No customer found" in merchant_client.get(url, {"q": "cus_nobody"}).content.decode()
    response = merchant_client.post(url, {"customer": "cus_nobody"}, follow=True)
    assert any("has no customer cus_nobody" in m for m in messages_of(response))
    assert not Referral.objects.filter(merchant=merchant).exists()


def test_a_failed_backfill_shows_why_and_can_be_read_again(merchant_client, merchant, affiliate, fake_stripe):
    account = merchant.stripe_account_id
    dana = fake_stripe.put(customer(), account=account)
    fake_stripe.put(charge(customer=dana["id"], payment_intent=new_id("pi"), amount=5000), account=account)
    fake_stripe.fail("/v1/invoices", status=403, body={"error": {"type": "invalid_request_error", "message": "Nope."}})
    url = reverse("affiliates:attribute_customer", kwargs={"uid": affiliate.public_id})
    with TestCase.captureOnCommitCallbacks(execute=True):
        merchant_client.post(url, {"customer": dana["id"]})
    body = page(merchant_client, affiliate)
    assert "Failed" in body and "Nope." in body and "Read again" in body
    backfill = CustomerBackfill.objects.get()
    retry = reverse("affiliates:backfill_retry", kwargs={"uid": affiliate.public_id, "pk": backfill.pk})
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert merchant_client.post(retry).status_code == 302
    assert "1 payment credited, $10.00" in page(merchant_client, affiliate)


def test_the_program_page_sets_whether_codes_win(merchant_client, merchant):
    data = {
        "name": "Partners",
        "commission_type": "percent",
        "commission_percent": "20",
        "commission_currency": "usd",
        "recurring": "first",
        "cookie_days": "60",
        "hold_days": "30",
        "min_payout": "50",
        "attribution": "last_click",
        "promotion_codes_first": "on",
    }
    assert merchant_client.post(reverse("affiliates:programs"), data).status_code == 302
    assert Program.objects.get(merchant=merchant).promotion_codes_first
    body = merchant_client.get(reverse("affiliates:programs")).content.decode()
    [checkbox] = re.findall(r'<input[^>]*name="promotion_codes_first"[^>]*>', body)
    assert "checked" in checkbox
    del data["promotion_codes_first"]
    merchant_client.post(reverse("affiliates:programs"), data)
    assert not Program.objects.get(merchant=merchant).promotion_codes_first
