"""Validly signed events of shapes Stripe never sends: stored, answered 200, marked failed with a reason that names the
field and what it held, and never attributed from a guess; the events after them are processed as usual, by the same
drainer.

A merchant reading the event list sees "data.object.amount_total: expected an amount in minor units (an integer), got
the string '10000'" rather than a Python error, and no commission of a made-up amount or customer.
"""

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliates.models import Commission, Referral
from stripe_integration.drainers import drain
from stripe_integration.models import StripeEvent
from stripe_integration.services import WEBHOOK_EVENT_TYPES
from tests.factories import ReferralFactory
from tests.stripe_events import (
    charge,
    checkout_session,
    customer,
    dispute,
    invoice,
    invoice_payment,
    make_event,
    new_id,
    payment_intent,
    post_event,
    subscription,
)
from tests.stripe_integration.test_drainers import hold_every_slot, slot_keys

pytestmark = pytest.mark.django_db

ID = "a Stripe id (a string) or an object with one"
AMOUNT = "an amount in minor units (an integer of at most 15 digits)"


def paid_checkout(**patch):
    return lambda rid: ("checkout.session.completed", checkout_session(**{"client_reference_id": rid, **patch}))


def refund(**patch):
    obj = charge(payment_intent=new_id("pi"), amount_refunded=100)
    return "charge.refunded", dict(obj, **patch)


# (what the event is, its type and object for a referral id, the reason it fails with)
OBJECTS = [
    (
        "an expanded customer without its id",
        paid_checkout(customer={"email": "buyer@example.org"}),
        f"data.object.customer: expected {ID}, got an object without an id",
    ),
    ("a customer id in a list", paid_checkout(customer=["cus_1"]), f"data.object.customer: expected {ID}, got a list"),
    (
        "a customer id as a number",
        paid_checkout(customer=42),
        f"data.object.customer: expected {ID}, got the number 42",
    ),
    (
        "an object for the referral id",
        paid_checkout(client_reference_id={"rid": "alice"}),
        "data.object.client_reference_id: expected a string, got an object",
    ),
    (
        "a string for the customer's details",
        paid_checkout(customer_details="buyer@example.org"),
        "data.object.customer_details: expected an object, got the string 'buyer@example.org'",
    ),
    (
        "a string for the metadata",
        lambda rid: ("payment_intent.succeeded", payment_intent(metadata=f"_afficoneRef={rid}")),
        "data.object.metadata: expected an object, got the string '_afficoneRef=",
    ),
    (
        "an amount as a string of digits",
        paid_checkout(amount_total="10000"),
        f"data.object.amount_total: expected {AMOUNT}, got the string '10000'",
    ),
    (
        "an amount with a fraction",
        paid_checkout(amount_total=100.5),
        f"data.object.amount_total: expected {AMOUNT}, got the number 100.5",
    ),
    ("an amount as true", paid_checkout(amount_total=True), f"data.object.amount_total: expected {AMOUNT}, got true"),
    (
        "an amount of 30 digits",
        paid_checkout(amount_total=10**30),
        f"data.object.amount_total: expected {AMOUNT}, got the number {10**30}",
    ),
    (
        "a tax as a string",
        paid_checkout(total_details={"amount_tax": "19"}),
        f"data.object.total_details.amount_tax: expected {AMOUNT}, got the string '19'",
    ),
    (
        "a received amount as a string",
        lambda rid: ("payment_intent.succeeded", payment_intent(metadata={"_afficoneRef": rid}, amount_received="50")),
        f"data.object.amount_received: expected {AMOUNT}, got the string '50'",
    ),
    (
        "invoice taxes as one object rather than a list",
        lambda rid: ("invoice.paid", invoice(customer=new_id("cus"), total_taxes={"amount": 5})),
        "data.object.total_taxes: expected a list of objects, got an object",
    ),
    (
        "an invoice tax that is not an object",
        lambda rid: ("invoice.paid", invoice(customer=new_id("cus"), total_taxes=[19])),
        "data.object.total_taxes[0]: expected an object, got the number 19",
    ),
    (
        "a dispute status that is not a string",
        lambda rid: ("charge.dispute.closed", dispute(charge=new_id("ch"), status={"value": "lost"})),
        "data.object.status: expected a string, got an object",
    ),
    (
        "a refunded amount as a string",
        lambda rid: refund(amount_refunded="100"),
        f"data.object.amount_refunded: expected {AMOUNT}, got the string '100'",
    ),
    (
        "an end of subscription that is not a timestamp",
        lambda rid: ("customer.subscription.deleted", subscription(customer=new_id("cus"), ended_at="soon")),
        "data.object.ended_at: expected a Unix timestamp (a positive integer), got the string 'soon'",
    ),
    (
        "an invoice payment's payment as a string",
        lambda rid: ("invoice_payment.paid", invoice_payment(invoice=new_id("in"), payment_intent="x", payment="pi_1")),
        "data.object.payment: expected an object, got the string 'pi_1'",
    ),
    (
        "an email that is not a string",
        lambda rid: ("customer.created", customer(metadata={"_afficoneRef": rid}, email=["a@example.org"])),
        "data.object.email: expected a string, got a list",
    ),
]


def with_data(data):
    def change(event):
        event["data"] = data
        return event

    return change


def with_field(name, value):
    def change(event):
        event[name] = value
        return event

    return change


# (what the event is, how its envelope differs from Stripe's, the reason it fails with)
ENVELOPES = [
    ("a null data.object", with_data({"object": None}), "data.object: expected an object, got null"),
    ("a list for data.object", with_data({"object": [{"id": "cs_1"}]}), "data.object: expected an object, got a list"),
    ("a string for data.object", with_data({"object": "cs_1"}), "data.object: expected an object, got the string"),
    ("a list for data", with_data([{"object": {}}]), "data: expected an object, got a list"),
    ("livemode as a string", with_field("livemode", "false"), "livemode: expected true or false, got the string"),
    (
        "created as a string",
        with_field("created", "yesterday"),
        "created: expected a Unix timestamp (a positive integer), got the string 'yesterday'",
    ),
    (
        "created too far in the future for a date",
        with_field("created", 10**20),
        f"created: expected a Unix timestamp (a positive integer), got the number {10**20}",
    ),
]


@pytest.fixture(autouse=True)
def free_slots():
    """Every test starts, and leaves, with no drainer slot taken."""
    cache.delete_many(slot_keys())
    yield
    cache.delete_many(slot_keys())


@pytest.fixture
def referral(affiliate):
    return ReferralFactory(affiliate=affiliate)


def post(client, event) -> StripeEvent:
    response = post_event(client, event)
    assert response.status_code == 200
    return StripeEvent.objects.get(stripe_id=event["id"])


def assert_the_next_payment_earns(client, merchant, referral):
    session = checkout_session(client_reference_id=referral.rid, amount_total=5000)
    after = post(client, make_event("checkout.session.completed", session, account=merchant.stripe_account_id))
    assert after.status == StripeEvent.Status.PROCESSED
    assert list(Commission.objects.for_merchant(merchant).values_list("source_id", "amount")) == [
        (session["payment_intent"], 1000)
    ]


@pytest.mark.parametrize(("what", "build", "reason"), OBJECTS, ids=[case[0] for case in OBJECTS])
def test_an_object_of_an_unexpected_shape_fails_with_the_field_named(client, merchant, referral, what, build, reason):
    event_type, obj = build(referral.rid)
    stored = post(client, make_event(event_type, obj, account=merchant.stripe_account_id))

    assert (stored.merchant, stored.status, stored.attempts) == (merchant, StripeEvent.Status.FAILED, 1)
    assert stored.error.startswith(f"ValueError: {reason}"), stored.error
    assert not Commission.objects.exists()
    assert not Referral.objects.filter(stripe_customer_id__isnull=False).exists()  # no customer linked from a guess
    assert_the_next_payment_earns(client, merchant, referral)


@pytest.mark.parametrize(("what", "change", "reason"), ENVELOPES, ids=[case[0] for case in ENVELOPES])
def test_an_envelope_of_an_unexpected_shape_fails_with_the_field_named(
    client, merchant, referral, what, change, reason
):
    session = checkout_session(client_reference_id=referral.rid)
    stored = post(client, change(make_event("checkout.session.completed", session, account=merchant.stripe_account_id)))

    assert (stored.merchant, stored.status, stored.attempts) == (merchant, StripeEvent.Status.FAILED, 1)
    assert stored.error.startswith(f"ValueError: {reason}"), stored.error
    assert not Commission.objects.exists()
    assert_the_next_payment_earns(client, merchant, referral)


@pytest.mark.parametrize("account", [{"id": "acct_1"}, ["acct_1"], 42])
def test_an_account_that_is_not_an_id_is_stored_as_failed_for_no_merchant(client, merchant, referral, account):
    session = checkout_session(client_reference_id=referral.rid)
    event = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
    event["account"] = account
    stored = post(client, event)

    assert (stored.merchant, stored.account, stored.status) == (None, "", StripeEvent.Status.FAILED)
    assert stored.error.startswith("ValueError: account: expected a Stripe account id, got "), stored.error
    assert_the_next_payment_earns(client, merchant, referral)


def test_a_backlog_of_unexpected_shapes_fails_each_and_the_drainer_processes_the_rest(client, merchant, referral):
    """One drainer works through a backlog where every other event has a shape Stripe never sends: each of those is
    failed with its reason, and every payment among them earns its commission."""
    hold_every_slot()
    sessions, broken = [], []
    for _, build, _ in OBJECTS:
        session = checkout_session(client_reference_id=ReferralFactory(affiliate=referral.affiliate).rid)
        good = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
        assert post_event(client, good).status_code == 200
        sessions.append(session)
        event_type, obj = build(referral.rid)
        bad = make_event(event_type, obj, account=merchant.stripe_account_id)
        assert post_event(client, bad).status_code == 200
        broken.append(bad["id"])
    cache.delete(slot_keys()[0])
    cache.set(slot_keys()[0], 1, 60)  # the slot this drainer was started in (by an asker that named no token)

    assert drain(0) == 2 * len(OBJECTS)

    events = StripeEvent.objects.for_merchant(merchant)
    assert set(events.filter(stripe_id__in=broken).values_list("status", flat=True)) == {StripeEvent.Status.FAILED}
    assert set(events.exclude(stripe_id__in=broken).values_list("status", flat=True)) == {StripeEvent.Status.PROCESSED}
    assert sorted(Commission.objects.for_merchant(merchant).values_list("source_id", flat=True)) == sorted(
        session["payment_intent"] for session in sessions
    )


# --- any shape at all -----------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
# The fields the handlers read, and the envelope's.
FIELDS = [
    "id",
    "customer",
    "amount",
    "amount_total",
    "amount_paid",
    "amount_refunded",
    "amount_received",
    "metadata",
    "client_reference_id",
    "mode",
    "payment_status",
    "customer_details",
    "payment_intent",
    "charge",
    "invoice",
    "subscription",
    "status",
    "currency",
    "total_details",
    "total_taxes",
    "parent",
    "status_transitions",
    "payment",
    "billing_reason",
    "ended_at",
    "canceled_at",
    "created",
    "latest_charge",
    "receipt_email",
    "email",
    "customer_email",
]
ENVELOPE = ["created", "livemode", "data", "account"]


def example_object(event_type: str, rid: str) -> dict:
    kinds = {
        "checkout.session": lambda: checkout_session(client_reference_id=rid),
        "payment_intent": lambda: payment_intent(metadata={"_afficoneRef": rid}),
        "customer.subscription": subscription,
        "customer": lambda: customer(metadata={"_afficoneRef": rid}),
        "invoice_payment": lambda: invoice_payment(invoice=new_id("in"), payment_intent=new_id("pi")),
        "invoice": lambda: invoice(customer=new_id("cus")),
        "charge.dispute": lambda: dispute(charge=new_id("ch")),
        "charge": lambda: charge(payment_intent=new_id("pi")),
        "account.application": lambda: {"id": new_id("ca"), "object": "application"},
    }
    return kinds[next(kind for kind in kinds if event_type.startswith(kind + "."))]()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event_type=st.sampled_from(WEBHOOK_EVENT_TYPES),
    fields=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4),
    envelope=st.dictionaries(st.sampled_from(ENVELOPE), JSON, max_size=1),
)
def test_whatever_a_signed_event_holds_it_is_answered_and_never_fails_unexplained(
    client, merchant, affiliate, event_type, fields, envelope
):
    """Any JSON in the fields handlers read: the webhook answers 200 (or 400 for JSON Postgres cannot store: NaN, a
    NUL character), and a stored event ends processed, waiting, ignored, or failed with the field named (a
    ValueError)."""
    obj = dict(example_object(event_type, ReferralFactory(affiliate=affiliate).rid), **fields)
    event = dict(make_event(event_type, obj, account=merchant.stripe_account_id), **envelope)
    response = post_event(client, event)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert b"NaN and Infinity" in response.content or b"cannot be stored" in response.content
        assert not StripeEvent.objects.filter(stripe_id=event["id"]).exists()
        return
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status != StripeEvent.Status.PENDING
    if stored.status == StripeEvent.Status.FAILED:
        assert stored.error.startswith("ValueError: "), stored.error
