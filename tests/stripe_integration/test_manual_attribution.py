"""Manual attribution with backfill: the merchant binds an existing Stripe customer to an affiliate
(POST /api/v1/referrals), and the customer's past payments, read from the merchant's Stripe account
(tests/fake_stripe/ through the real StripeClient), are credited once by a Celery task enqueued on commit."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, TestCase

from affiliates.models import Commission, Referral
from affiliates.services.commissions import add_months
from stripe_integration.models import CustomerBackfill, StripeEvent
from stripe_integration.tasks import backfill_customer_task
from tenants.services import create_api_key
from tests.conftest import wait_for
from tests.factories import AffiliateFactory, ReferralFactory
from tests.stripe_events import (
    charge,
    checkout_session,
    customer,
    invoice,
    invoice_payment,
    make_event,
    new_id,
    payment_intent,
    post_event,
)

pytestmark = pytest.mark.django_db

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=100)


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


class Api:
    def __init__(self, merchant):
        self.key = create_api_key(merchant, name="backend")[1]
        self.client = Client()

    def attribute(self, affiliate, customer_id: str, *, commit: bool = True):
        """POST /api/v1/referrals; with `commit`, what follows the commit (the backfill task, a drainer) runs."""
        headers = {"Authorization": f"Bearer {self.key}"}
        body = {"affiliate": str(affiliate.public_id), "customer": customer_id}
        if not commit:
            return self.client.post("/api/v1/referrals", body, content_type="application/json", headers=headers)
        with TestCase.captureOnCommitCallbacks(execute=True):
            return self.client.post("/api/v1/referrals", body, content_type="application/json", headers=headers)

    def referral(self, rid: str) -> dict:
        response = self.client.get(f"/api/v1/referrals/{rid}", headers={"Authorization": f"Bearer {self.key}"})
        assert response.status_code == 200
        return response.json()


@pytest.fixture
def api(merchant):
    return Api(merchant)


@pytest.fixture
def stripe_customer(fake_stripe, merchant):
    """A customer of the merchant's Stripe account with three monthly paid invoices of 50.00 (API 2025-03-31 shape:
    each paid by a PaymentIntent named only in an invoice_payment) and a one-off Checkout payment of 120.00 with
    20.00 tax, half refunded."""
    account = merchant.stripe_account_id
    cus = fake_stripe.put(customer(email="dana@example.org"), account=account)
    subscription = new_id("sub")
    invoices = []
    for month in range(3):
        paid_at = ts(add_months(START, month))
        pi = new_id("pi")
        paid = invoice(
            customer=cus["id"],
            subscription=subscription,
            amount_paid=5000,
            paid_at=paid_at,
            billing_reason="subscription_create" if month == 0 else "subscription_cycle",
        )
        invoices.append(fake_stripe.put(paid, account=account))
        fake_stripe.put(charge(customer=cus["id"], payment_intent=pi, amount=5000, created=paid_at), account=account)
        fake_stripe.put(invoice_payment(invoice=paid["id"], payment_intent=pi, amount=5000), account=account)
    one_off_pi = new_id("pi")
    fake_stripe.put(
        checkout_session(
            customer=cus["id"],
            payment_intent=one_off_pi,
            amount_total=12000,
            total_details={"amount_tax": 2000},
            created=ts(START + timedelta(days=40)),
        ),
        account=account,
    )
    one_off = fake_stripe.put(
        charge(
            customer=cus["id"],
            payment_intent=one_off_pi,
            amount=12000,
            amount_refunded=6000,
            created=ts(START + timedelta(days=40)),
        ),
        account=account,
    )
    return {"customer": cus, "invoices": invoices, "one_off": one_off}


def earned(merchant):
    return sorted(
        (c.source_id, c.affiliate.code, c.base_amount, c.amount, c.reversed_amount, c.is_recurring)
        for c in Commission.objects.for_merchant(merchant).select_related("affiliate")
    )


def test_binding_a_customer_credits_its_past_payments_once(api, merchant, affiliate, stripe_customer, fake_stripe):
    affiliate.program.recurring_months = 2
    affiliate.program.save(update_fields=["recurring_months"])
    cus = stripe_customer["customer"]["id"]
    response = api.attribute(affiliate, cus)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["affiliate"], body["customer"], body["source"]) == (str(affiliate.public_id), cus, "api")
    assert body["customer_email"] == "dana@example.org"
    in1, in2, in3 = (i["id"] for i in stripe_customer["invoices"])
    pi = stripe_customer["one_off"]["payment_intent"]
    expected = [
        (in1, "alice", 5000, 1000, 0, False),  # the first paid invoice opens the two-month window
        (in2, "alice", 5000, 1000, 0, True),
        (pi, "alice", 10000, 2000, 1000, True),  # as Checkout would: tax excluded, the refunded half taken back
    ]  # in3 was paid on the window's second anniversary: outside it
    assert earned(merchant) == sorted(expected)
    referral = Referral.objects.get(rid=body["id"])
    assert referral.first_payment_at == START and referral.source == Referral.Source.API
    backfill = api.referral(body["id"])["backfill"]
    assert (backfill["status"], backfill["payments"], backfill["credited"], backfill["amounts"]) == (
        "done",
        4,
        3,
        {"usd": 3000},
    )
    for request in fake_stripe.requests_to("/v1/invoices") + fake_stripe.requests_to("/v1/charges"):
        assert request.stripe_account == merchant.stripe_account_id and request.query["customer"] == cus
    assert fake_stripe.requests_to("/v1/invoices")[0].query["status"] == "paid"

    # Asked again (a redelivered task, or the merchant retrying): the same commissions, the same result.
    with TestCase.captureOnCommitCallbacks(execute=True):
        backfill_customer_task(referral.backfill.pk)
    assert earned(merchant) == sorted(expected)
    again = api.referral(body["id"])["backfill"]
    assert again["finished"] > backfill["finished"] and {**again, "finished": None} == {**backfill, "finished": None}
    # A webhook for a payment already credited adds nothing.
    event = make_event("invoice.paid", stripe_customer["invoices"][1], account=merchant.stripe_account_id)
    assert post_event(Client(), event).status_code == 200
    assert StripeEvent.objects.get(stripe_id=event["id"]).status == StripeEvent.Status.PROCESSED
    assert earned(merchant) == sorted(expected)


def test_a_payment_that_already_earned_is_left_as_it_is(api, merchant, affiliate, stripe_customer, fake_stripe):
    """The one-off payment was attributed by its PaymentIntent's referral id (to bob) before the customer was bound
    to alice: the backfill leaves it bob's and credits only the invoices."""
    bob = AffiliateFactory(merchant=merchant, program=affiliate.program, code="bob")
    one_off = stripe_customer["one_off"]
    intent = payment_intent(
        id=one_off["payment_intent"], amount=12000, metadata={"_afficoneRef": ReferralFactory(affiliate=bob).rid}
    )
    event = make_event("payment_intent.succeeded", intent, account=merchant.stripe_account_id)
    assert post_event(Client(), event).status_code == 200
    response = api.attribute(affiliate, stripe_customer["customer"]["id"])
    assert response.status_code == 201
    rows = earned(merchant)
    assert [r[:2] for r in rows if r[0] == one_off["payment_intent"]] == [(one_off["payment_intent"], "bob")]
    assert sorted(r[0] for r in rows if r[1] == "alice") == sorted(i["id"] for i in stripe_customer["invoices"])
    backfill = api.referral(response.json()["id"])["backfill"]
    assert (backfill["payments"], backfill["credited"]) == (4, 3)


def test_an_invoice_parked_for_its_customer_is_credited_once_by_the_binding(api, merchant, affiliate, stripe_customer):
    """invoice.paid of an unreferred customer waits for a binding; the binding wakes it (a drainer is asked for on
    commit) and the backfill finds it credited: one commission, counted in the result."""
    first = stripe_customer["invoices"][0]
    event = make_event("invoice.paid", first, account=merchant.stripe_account_id)
    assert post_event(Client(), event).status_code == 200
    assert StripeEvent.objects.get(stripe_id=event["id"]).status == StripeEvent.Status.WAITING
    response = api.attribute(affiliate, stripe_customer["customer"]["id"])
    assert StripeEvent.objects.get(stripe_id=event["id"]).status == StripeEvent.Status.PROCESSED
    assert [r[0] for r in earned(merchant)].count(first["id"]) == 1
    assert api.referral(response.json()["id"])["backfill"]["credited"] == 4


def test_a_customer_already_bound_is_409(api, merchant, affiliate, stripe_customer, fake_stripe):
    cus = stripe_customer["customer"]["id"]
    bob = AffiliateFactory(merchant=merchant, program=affiliate.program, code="bob")
    ReferralFactory(affiliate=bob, stripe_customer_id=cus)
    response = api.attribute(affiliate, cus)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "customer_already_attributed"
    assert response.json()["error"]["field"] == "customer"
    assert earned(merchant) == [] and not CustomerBackfill.objects.exists()
    assert Referral.objects.filter(stripe_customer_id=cus).get().affiliate == bob
    assert not fake_stripe.requests_to("/v1/invoices")


def test_binding_the_same_customer_twice_is_409_the_second_time(api, merchant, affiliate, stripe_customer):
    cus = stripe_customer["customer"]["id"]
    assert api.attribute(affiliate, cus).status_code == 201
    before = earned(merchant)
    assert api.attribute(affiliate, cus).status_code == 409
    assert earned(merchant) == before and Referral.objects.filter(stripe_customer_id=cus).count() == 1


def test_bad_customers_and_affiliates_are_refused_and_change_nothing(
    api, merchant, other_merchant, affiliate, fake_stripe
):
    unknown = api.attribute(affiliate, "cus_nobody")
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (400, "customer")
    assert unknown.json()["error"]["code"] == "unknown_customer"
    theirs = fake_stripe.put(customer(), account=other_merchant.stripe_account_id)
    assert api.attribute(affiliate, theirs["id"]).status_code == 400  # another Stripe account's customer
    mine = fake_stripe.put(customer(), account=merchant.stripe_account_id)
    other_affiliate = AffiliateFactory(merchant=other_merchant, code="theirs")
    response = api.attribute(other_affiliate, mine["id"])
    assert (response.status_code, response.json()["error"]["field"]) == (404, "affiliate")
    malformed = api.attribute(affiliate, "not-a-customer")
    assert (malformed.status_code, malformed.json()["error"]["field"]) == (400, "customer")
    assert not Referral.objects.filter(merchant=merchant).exists()


def test_past_payments_are_read_page_by_page(api, merchant, affiliate, fake_stripe):
    """Stripe lists at most 100 objects a page: 105 one-off charges take two pages (has_more, starting_after)."""
    account = merchant.stripe_account_id
    cus = fake_stripe.put(customer(), account=account)
    for day in range(105):
        fake_stripe.put(
            charge(
                customer=cus["id"], payment_intent=new_id("pi"), amount=1000, created=ts(START + timedelta(days=day))
            ),
            account=account,
        )
    response = api.attribute(affiliate, cus["id"])
    assert api.referral(response.json()["id"])["backfill"]["credited"] == 105
    assert Commission.objects.for_merchant(merchant).count() == 105
    pages = fake_stripe.requests_to("/v1/charges")
    assert len(pages) == 2 and "starting_after" not in pages[0].query and pages[1].query["starting_after"]


def test_stripe_failing_marks_the_backfill_failed_and_a_retry_credits(
    api, merchant, affiliate, stripe_customer, fake_stripe
):
    fake_stripe.fail("/v1/invoices", status=400, body={"error": {"type": "invalid_request_error", "message": "No."}})
    response = api.attribute(affiliate, stripe_customer["customer"]["id"])
    backfill = api.referral(response.json()["id"])["backfill"]
    assert backfill["status"] == "failed" and earned(merchant) == []
    with TestCase.captureOnCommitCallbacks(execute=True):
        backfill_customer_task(CustomerBackfill.objects.get().pk)
    assert api.referral(response.json()["id"])["backfill"]["status"] == "done"
    assert len(earned(merchant)) == 4


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_backfill_runs_in_a_real_worker(fake_stripe, merchant, affiliate, stripe_customer, celery_worker):
    """On the real stack: the API's commit enqueues the task through Redis, a `celery worker` process runs it."""
    api = Api(merchant)
    response = api.attribute(affiliate, stripe_customer["customer"]["id"], commit=False)
    assert response.status_code == 201
    done = wait_for(lambda: api.referral(response.json()["id"])["backfill"]["status"] == "done", timeout=30)
    assert done and len(earned(merchant)) == 4
