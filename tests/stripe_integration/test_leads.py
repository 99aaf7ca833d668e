"""Leads: a referred visitor signs up (Afficone.signup's POST /api/track/lead, or the merchant's server through
POST /api/v1/leads), and the Stripe customer with that email, created within the cookie window after it, is bound to
the referral, so its payments earn with no referral id on any Stripe object. Driven through the real endpoints, the
real signed webhook and the local Stripe fake (tests/fake_stripe/) for what events name only by id."""

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliates.models import Commission, Lead, Referral
from affiliates.services import create_affiliate, create_default_program, create_referral
from stripe_integration.models import StripeEvent
from tenants.services import create_api_key
from tests.factories import AffiliateFactory, MerchantFactory, ReferralFactory
from tests.stripe_events import checkout_session, customer, invoice, make_event, post_event
from tests.tracking.conftest import BROWSER_UA

pytestmark = pytest.mark.django_db


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


@pytest.fixture
def referral(affiliate):
    """A visitor who came through alice's link moments ago."""
    return ReferralFactory(affiliate=affiliate)


def track_lead(client, merchant, referral_id: str, *, ip: str = "203.0.113.7", **fields):
    body = {"k": merchant.public_key, "u": "https://shop.test/signup", "r": referral_id, **fields}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            "/api/track/lead",
            json.dumps(body),
            content_type="text/plain;charset=UTF-8",
            REMOTE_ADDR=ip,
            HTTP_USER_AGENT=BROWSER_UA,
        )


def customer_event(client, merchant, cus: dict, type: str = "customer.created"):
    response = post_event(client, make_event(type, cus, account=merchant.stripe_account_id))
    assert response.status_code == 200
    return response


def first_invoice(client, merchant, customer_id: str, *, amount: int = 10000, email: str = "", **patch):
    paid = invoice(
        customer=customer_id, amount_paid=amount, billing_reason="subscription_create", customer_email=email, **patch
    )
    assert post_event(client, make_event("invoice.paid", paid, account=merchant.stripe_account_id)).status_code == 200
    return paid


def test_a_browser_lead_binds_the_customer_created_with_its_email_and_its_invoices_earn(
    client, merchant, affiliate, referral, fake_stripe
):
    answer = track_lead(client, merchant, referral.rid, e="  Dana@Example.org ", x="user-42")
    assert answer.status_code == 200, answer.content
    lead = Lead.objects.get(public_id=answer.json()["lead"])
    assert (lead.email, lead.external_id, lead.origin, lead.referral) == (
        "dana@example.org",
        "user-42",
        "browser",
        referral,
    )
    # The same signup reported again (a reload) is the same lead.
    assert track_lead(client, merchant, referral.rid, e="dana@example.org").json()["lead"] == str(lead.public_id)

    cus = customer(email="DANA@example.org", metadata={})
    customer_event(client, merchant, cus)
    referral.refresh_from_db()
    assert (referral.stripe_customer_id, referral.source) == (cus["id"], Referral.Source.LEAD)
    lead.refresh_from_db()
    assert lead.bound_customer_id == cus["id"] and lead.bound_at is not None

    paid = first_invoice(client, merchant, cus["id"], email="dana@example.org")
    commission = Commission.objects.get(source_id=paid["id"])
    assert (commission.affiliate, commission.amount, commission.referral) == (affiliate, 2000, referral)


def test_a_lead_never_takes_a_customer_already_bound_to_another_referral(
    client, merchant, affiliate, referral, fake_stripe
):
    rival = AffiliateFactory(merchant=merchant, code="rival", email="rival@example.com")
    cus = customer(email="dana@example.org", metadata={})
    held = ReferralFactory(affiliate=rival, stripe_customer_id=cus["id"], customer_email="dana@example.org")

    assert track_lead(client, merchant, referral.rid, e="dana@example.org", c=cus["id"]).status_code == 200
    customer_event(client, merchant, cus, "customer.updated")
    paid = first_invoice(client, merchant, cus["id"], email="dana@example.org")

    assert Referral.objects.get(stripe_customer_id=cus["id"]) == held
    assert Commission.objects.get(source_id=paid["id"]).affiliate == rival
    assert Lead.objects.get().bound_at is None
    referral.refresh_from_db()
    assert referral.stripe_customer_id is None


def test_only_customers_created_within_the_cookie_window_after_the_lead_are_bound(
    client, merchant, affiliate, fake_stripe
):
    now = timezone.now()
    old, fresh = ReferralFactory(affiliate=affiliate), ReferralFactory(affiliate=affiliate)
    track_lead(client, merchant, old.rid, e="late@example.org")
    track_lead(client, merchant, fresh.rid, e="early@example.org")
    # The first lead is 61 days old when its customer appears (the program's cookie is 60 days).
    Lead.objects.filter(referral=old).update(created_at=now - timedelta(days=61))
    customer_event(client, merchant, customer(email="late@example.org", metadata={}))
    # The second customer existed an hour before its lead: not someone the lead brought.
    customer_event(client, merchant, customer(email="early@example.org", created=ts(now - timedelta(hours=1))))
    # A plus-address is another address.
    customer_event(client, merchant, customer(email="late+shop@example.org", metadata={}))

    assert not Referral.objects.exclude(stripe_customer_id=None).exists()
    assert not Lead.objects.exclude(bound_at=None).exists()


def test_a_lead_reported_after_its_customer_was_created_binds_it_and_wakes_its_waiting_invoice(
    client, merchant, affiliate, referral, fake_stripe
):
    """The merchant's backend created the Stripe customer in the signup request, before the page called signup."""
    cus = fake_stripe.put(
        customer(email="dana@example.org", created=ts(timezone.now() - timedelta(minutes=2))),
        account=merchant.stripe_account_id,
    )
    customer_event(client, merchant, cus)  # nothing to bind yet
    paid = first_invoice(client, merchant, cus["id"], email="dana@example.org")  # waits for its customer's referral
    assert not Commission.objects.exists()

    assert track_lead(client, merchant, referral.rid, e="dana@example.org").status_code == 200

    referral.refresh_from_db()
    assert referral.stripe_customer_id == cus["id"]
    assert Commission.objects.get(source_id=paid["id"]).affiliate == affiliate


def test_an_invoice_naming_only_the_email_binds_a_customer_stripe_created_after_the_lead(
    client, merchant, affiliate, referral, fake_stripe
):
    track_lead(client, merchant, referral.rid, e="dana@example.org")
    cus = fake_stripe.put(customer(email="dana@example.org"), account=merchant.stripe_account_id)
    paid = first_invoice(client, merchant, cus["id"], email="Dana@example.org")

    assert Commission.objects.get(source_id=paid["id"]).affiliate == affiliate
    assert Referral.objects.get(stripe_customer_id=cus["id"]) == referral
    # The lead's check of when Stripe created the customer and the exclusions' check of its metadata: one read.
    assert [r.path for r in fake_stripe.requests if r.method == "GET"].count(f"/v1/customers/{cus['id']}") == 1


def test_a_guest_checkout_with_the_leads_email_earns(client, merchant, affiliate, referral, fake_stripe):
    track_lead(client, merchant, referral.rid, e="guest@example.org")
    session = checkout_session(customer_details={"email": "guest@example.org"}, amount_total=5000)
    post_event(client, make_event("checkout.session.completed", session, account=merchant.stripe_account_id))
    commission = Commission.objects.get(source_id=session["payment_intent"])
    assert (commission.affiliate, commission.amount) == (affiliate, 1000)


@pytest.mark.parametrize("customer_first", [True, False])
def test_a_one_off_checkout_of_a_customer_a_lead_bound_earns_whichever_event_comes_first(
    client, merchant, affiliate, referral, fake_stripe, customer_first
):
    track_lead(client, merchant, referral.rid, e="gus@example.org")
    cus = customer(email="gus@example.org", metadata={})
    session = checkout_session(customer=cus["id"], customer_details={"email": "gus@example.org"}, amount_total=5000)
    fake_stripe.put(cus, account=merchant.stripe_account_id)
    events = [
        make_event("customer.created", cus, account=merchant.stripe_account_id),
        make_event("checkout.session.completed", session, account=merchant.stripe_account_id),
    ]
    for event in events if customer_first else events[::-1]:
        assert post_event(client, event).status_code == 200
    assert Commission.objects.get(source_id=session["payment_intent"]).affiliate == affiliate
    assert Referral.objects.get(stripe_customer_id=cus["id"]) == referral


def test_a_customer_bound_otherwise_is_not_a_leads_to_credit(client, merchant, affiliate, referral, fake_stripe):
    """A one-off payment without a referral id earns only for a lead's binding (README: bound customers' one-off
    payments earn for their own referral id or code)."""
    cus = customer(email="hal@example.org", metadata={})
    ReferralFactory(affiliate=affiliate, stripe_customer_id=cus["id"], source="manual")
    track_lead(client, merchant, referral.rid, e="hal@example.org")
    session = checkout_session(customer=cus["id"], customer_details={"email": "hal@example.org"})
    post_event(client, make_event("checkout.session.completed", session, account=merchant.stripe_account_id))
    assert not Commission.objects.filter(source_id=session["payment_intent"]).exists()
    assert Lead.objects.get().bound_at is None


def test_the_tracker_refuses_what_could_harvest_credit(
    client, merchant, affiliate, referral, other_merchant, fake_stripe
):
    assert track_lead(client, merchant, "no-such-referral", e="a@example.org").status_code == 404
    assert track_lead(client, other_merchant, referral.rid, e="a@example.org").status_code == 404  # another tenant's
    assert track_lead(client, merchant, affiliate.code, e="a@example.org").status_code == 404  # a code is no referral
    own = track_lead(client, merchant, referral.rid, e=affiliate.email.upper())
    assert (own.status_code, own.json()["error"]["code"], own.json()["error"]["field"]) == (400, "self_referral", "e")
    bad = track_lead(client, merchant, referral.rid, e="not an email")
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "e")
    malformed = client.post("/api/track/lead", "{" * 5000, content_type="text/plain", HTTP_USER_AGENT=BROWSER_UA)
    assert malformed.status_code == 400
    stale = ReferralFactory(affiliate=affiliate)
    Referral.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=61))
    assert track_lead(client, merchant, stale.rid, e="a@example.org").status_code == 404
    assert not Lead.objects.exists()

    # One referral names at most three addresses, and is heard at most five times an hour.
    capped = ReferralFactory(affiliate=affiliate)
    for n in range(3):
        assert track_lead(client, merchant, capped.rid, e=f"p{n}@example.org").status_code == 200
    fourth = track_lead(client, merchant, capped.rid, e="p3@example.org")
    assert (fourth.status_code, fourth.json()["error"]["code"]) == (429, "too_many_leads")
    assert track_lead(client, merchant, capped.rid, e="p0@example.org").status_code == 200  # the same one again
    sixth = track_lead(client, merchant, capped.rid, e="p1@example.org")
    assert (sixth.status_code, sixth.json()["error"]["code"]) == (429, "rate_limited")
    assert Lead.objects.count() == 3

    # One visitor address is heard at most twenty times an hour, whatever referral ids it tries.
    others = [ReferralFactory(affiliate=affiliate) for _ in range(21)]
    answers = [track_lead(client, merchant, r.rid, e="x@example.org", ip="198.51.100.9").status_code for r in others]
    assert answers.count(200) == 20 and answers[-1] == 429


def test_the_merchants_server_reports_leads_binds_a_named_customer_at_once_and_lists_them(
    client, merchant, affiliate, referral, fake_stripe
):
    headers = {"Authorization": f"Bearer {create_api_key(merchant, name='backend')[1]}"}

    def post(body):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return client.post("/api/v1/leads", body, content_type="application/json", headers=headers)

    cus = customer(email="erin@example.org")
    paid = first_invoice(client, merchant, cus["id"], email="erin@example.org")  # parked: nobody knows this customer
    created = post(
        {"referral": affiliate.code, "email": "Erin@Example.org", "customer": cus["id"], "external_id": "u7"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["email"], body["customer"], body["external_id"], body["origin"]) == (
        "erin@example.org",
        cus["id"],
        "u7",
        "server",
    )
    bound = Referral.objects.get(stripe_customer_id=cus["id"])
    assert (bound.rid, bound.affiliate, bound.source) == (body["referral"], affiliate, Referral.Source.LEAD)
    assert Commission.objects.get(source_id=paid["id"]).affiliate == affiliate  # woken and credited

    rival = AffiliateFactory(merchant=merchant, code="rival", email="rival@example.com")
    taken = post({"referral": rival.code, "email": "erin@example.org", "customer": cus["id"]})
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "customer_already_attributed")
    unknown = post({"referral": "nobody", "email": "x@example.org"})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (404, "referral")
    assert post({"referral": referral.rid, "email": "nope"}).status_code == 400

    listed = client.get("/api/v1/leads", headers=headers).json()["results"]
    assert [(lead["email"], lead["affiliate"]) for lead in listed] == [("erin@example.org", str(affiliate.public_id))]


def test_a_server_lead_is_trusted_before_an_earlier_browser_lead_for_the_same_address(
    client, merchant, affiliate, referral, fake_stripe
):
    other = AffiliateFactory(merchant=merchant, code="bob", email="bob@example.com")
    browser = ReferralFactory(affiliate=other)
    track_lead(client, merchant, browser.rid, e="fay@example.org")
    headers = {"Authorization": f"Bearer {create_api_key(merchant, name='backend')[1]}"}
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(
            "/api/v1/leads",
            {"referral": referral.rid, "email": "fay@example.org"},
            content_type="application/json",
            headers=headers,
        )
    cus = customer(email="fay@example.org", created=ts(datetime.now(UTC) + timedelta(seconds=5)))
    customer_event(client, merchant, cus)
    assert Referral.objects.get(stripe_customer_id=cus["id"]).affiliate == affiliate


def build_lead_scenario(client, fake_stripe):
    """A fresh merchant; alice's visitor signs up in the browser and becomes customer A (created in Stripe after the
    lead, with two paid invoices); bob's visitor is reported by the merchant's server with its customer B (one
    invoice). Returns the merchant, the actions in their natural order, and {invoice id: (affiliate code, amount)}."""
    merchant = MerchantFactory()
    create_default_program(merchant)
    alice = create_affiliate(merchant, email=f"alice-{merchant.pk}@example.net", code="alice")
    bob = create_affiliate(merchant, email=f"bob-{merchant.pk}@example.net", code="bob")
    account = merchant.stripe_account_id
    later = ts(timezone.now() + timedelta(hours=1))
    ann = fake_stripe.put(customer(email=f"ann-{merchant.pk}@example.org", created=later), account=account)
    ben = fake_stripe.put(customer(email=f"ben-{merchant.pk}@example.org", created=later), account=account)
    sub_a = f"sub_a{merchant.pk}"
    inv = [
        invoice(
            customer=ann["id"], subscription=sub_a, customer_email=ann["email"], billing_reason="subscription_create"
        ),
        invoice(customer=ann["id"], subscription=sub_a, customer_email=ann["email"], amount_paid=5000),
        invoice(customer=ben["id"], customer_email=ben["email"], billing_reason="subscription_create"),
    ]
    actions = [
        ("browser", (merchant, create_referral(alice).rid, ann["email"].upper())),
        ("server", (merchant, bob.code, ben["email"], ben["id"])),
        ("event", make_event("customer.created", ann, account=account)),
        ("event", make_event("customer.created", ben, account=account)),
        *[("event", make_event("invoice.paid", i, account=account)) for i in inv],
    ]
    expected = {inv[0]["id"]: ("alice", 2000), inv[1]["id"]: ("alice", 1000), inv[2]["id"]: ("bob", 2000)}
    return merchant, actions, expected


def run_leads(client, actions):
    for kind, what in actions:
        if kind == "event":
            assert post_event(client, what).status_code == 200
        elif kind == "browser":
            merchant, rid, email = what
            assert track_lead(client, merchant, rid, e=email).status_code == 200
        else:
            merchant, code, email, customer_id = what
            key = create_api_key(merchant, name="backend")[1]
            with TestCase.captureOnCommitCallbacks(execute=True):
                response = client.post(
                    "/api/v1/leads",
                    {"referral": code, "email": email, "customer": customer_id},
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {key}"},
                )
            assert response.status_code in (200, 201), response.content


def lead_outcome(merchant) -> dict:
    return {
        c.source_id: (c.affiliate.code, c.amount)
        for c in Commission.objects.for_merchant(merchant).select_related("affiliate")
    }


@settings(
    max_examples=int(os.environ.get("ORDERING_EXAMPLES", 12)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_leads_and_their_customers_events_in_any_order_give_the_in_order_commissions(client, fake_stripe, data):
    merchant, actions, expected = build_lead_scenario(client, fake_stripe)
    order = data.draw(st.permutations(range(len(actions))), label="order")
    repeats = data.draw(
        st.lists(st.tuples(st.sampled_from(range(len(actions))), st.integers(0, len(actions))), max_size=3),
        label="repeats",
    )
    sequence = [actions[i] for i in order]
    for index, position in repeats:
        sequence.insert(position, actions[index])
    run_leads(client, sequence)
    assert lead_outcome(merchant) == expected
    assert not StripeEvent.objects.filter(merchant=merchant, status__in=["waiting", "failed", "pending"]).exists()
