"""Every list filter of every resource, as declared once in its viewset (api/filters.py): what it keeps, that another
merchant's matching rows and ids are never listed, that a bad value answers 400 naming it, and that the schema
documents exactly the declared parameters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from affiliates.models import Commission, Lead
from affiliates.services import create_payout_batch, create_program, mark_payout_paid, set_program_status
from api.urls import router
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory

from .conftest import assert_error, seed_tenant


@pytest.fixture
def world(merchant, other_merchant):
    """Three affiliates of the merchant (one pending), their referrals, commissions and payouts; and another
    merchant's rows that would match every filter if scoping failed."""
    program = merchant.programs.get(is_default=True)
    vip = create_program(merchant, name="VIP")
    old = set_program_status(create_program(merchant, name="Spring 2025"), "archived")
    ann = AffiliateFactory(merchant=merchant, program=program, code="ann", email="ann@example.com")
    ben = AffiliateFactory(merchant=merchant, program=vip, code="ben", email="ben@example.com")
    cid = AffiliateFactory(merchant=merchant, program=program, code="cid", email="cid@example.com", status="pending")
    ra = ReferralFactory(affiliate=ann, stripe_customer_id="cus_ann", customer_email="buyer-a@example.org")
    rb = ReferralFactory(affiliate=ben, stripe_customer_id="cus_ben", customer_email="buyer-b@example.org")
    ca = CommissionFactory(referral=ra, amount=9000, status="approved")
    Commission.objects.filter(pk=ca.pk).update(created_at=timezone.now() - timedelta(days=40))
    cb = CommissionFactory(referral=rb, amount=9000, status="approved")
    create_payout_batch(merchant)
    ca.refresh_from_db()
    cb.refresh_from_db()
    mark_payout_paid(cb.payout, reference="wire-1")
    cc = CommissionFactory(referral=rb, amount=500, status="pending")
    la = Lead.objects.create(merchant=merchant, referral=ra, email="lead-a@example.org", origin="browser")
    lb = Lead.objects.create(merchant=merchant, referral=rb, email="lead-b@example.org", origin="server")
    theirs = seed_tenant(other_merchant, code="globex", email="partner@globex.example")
    return {
        "program": program,
        "vip": vip,
        "old": old,
        "ann": ann,
        "ben": ben,
        "cid": cid,
        "ra": ra,
        "rb": rb,
        "ca": ca,
        "cb": cb,
        "cc": cc,
        "la": la,
        "lb": lb,
        "pa": ca.payout,
        "pb": cb.payout,
        "theirs": theirs,
    }


def _id(resource: str, row) -> str:
    return row.rid if resource == "referrals" else str(row.public_id)


def _ago(days: int) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


# (resource, parameter): (the merchant's value, the rows it keeps, the other merchant's value, a bad value)
CASES = {
    ("affiliates", "status"): (lambda w: "pending", ["cid"], None, "sleeping"),
    ("affiliates", "email"): (lambda w: "ANN@example.com", ["ann"], lambda w: "partner@globex.example", "not-an-email"),
    ("affiliates", "code"): (lambda w: "BEN", ["ben"], lambda w: w["theirs"]["affiliate"].code.upper(), "x" * 65),
    ("referrals", "affiliate"): (
        lambda w: str(w["ann"].public_id),
        ["ra"],
        lambda w: str(w["theirs"]["affiliate"].public_id),
        "not-a-uuid",
    ),
    ("referrals", "customer"): (
        lambda w: "cus_ben",
        ["rb"],
        lambda w: w["theirs"]["referral"].stripe_customer_id,
        "x" * 256,
    ),
    ("referrals", "customer_email"): (lambda w: "BUYER-A@example.org", ["ra"], None, "not-an-email"),
    ("commissions", "affiliate"): (
        lambda w: str(w["ben"].public_id),
        ["cb", "cc"],
        lambda w: str(w["theirs"]["affiliate"].public_id),
        "not-a-uuid",
    ),
    ("commissions", "status"): (lambda w: "pending", ["cc"], None, "owed"),
    ("commissions", "created_gte"): (lambda w: _ago(1), ["cb", "cc"], None, "last week"),
    ("commissions", "created_lte"): (lambda w: _ago(30), ["ca"], None, "2026-13-45"),
    ("payouts", "affiliate"): (
        lambda w: str(w["ann"].public_id),
        ["pa"],
        lambda w: str(w["theirs"]["affiliate"].public_id),
        "not-a-uuid",
    ),
    ("payouts", "status"): (lambda w: "paid", ["pb"], None, "sent"),
    ("affiliates", "program"): (
        lambda w: str(w["vip"].public_id),
        ["ben"],
        lambda w: str(w["theirs"]["program"].public_id),
        "not-a-uuid",
    ),
    ("commissions", "program"): (
        lambda w: str(w["vip"].public_id),
        ["cb", "cc"],
        lambda w: str(w["theirs"]["program"].public_id),
        "not-a-uuid",
    ),
    ("programs", "status"): (lambda w: "archived", ["old"], None, "paused"),
    ("leads", "affiliate"): (
        lambda w: str(w["ann"].public_id),
        ["la"],
        lambda w: str(w["theirs"]["affiliate"].public_id),
        "not-a-uuid",
    ),
    ("leads", "email"): (lambda w: "LEAD-B@example.org", ["lb"], lambda w: "lead-globex@example.org", "not-an-email"),
}


def declared_filters() -> set[tuple[str, str]]:
    return {
        (prefix, name)
        for prefix, viewset, _ in router.registry
        if viewset.filters is not None
        for name in viewset.filters().fields
    }


def test_every_declared_filter_is_tested_here():
    assert declared_filters() == set(CASES)


def _listed(api, resource: str, params: dict) -> set[str]:
    response = api.get(f"/api/v1/{resource}", params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("resource,parameter", sorted(CASES), ids=[f"{r}-{p}" for r, p in sorted(CASES)])
def test_a_filter_keeps_the_matching_rows_of_the_merchant_only(api, world, resource, parameter):
    value, kept, their_value, _ = CASES[resource, parameter]
    everything = _listed(api, resource, {})
    expected = {_id(resource, world[name]) for name in kept}
    assert expected < everything  # the filter has something to leave out
    assert _listed(api, resource, {parameter: value(world)}) == expected
    # Another merchant's id, or a value matching only its rows, lists nothing (no error: nothing reveals them).
    if their_value is not None:
        assert _listed(api, resource, {parameter: their_value(world)}) == set()


@pytest.mark.parametrize("resource,parameter", sorted(CASES), ids=[f"{r}-{p}" for r, p in sorted(CASES)])
def test_a_bad_filter_value_is_a_400_naming_the_parameter(api, world, resource, parameter):
    bad = CASES[resource, parameter][3]
    assert_error(api.get(f"/api/v1/{resource}", {parameter: bad}), 400, field=parameter)


def test_an_undeclared_parameter_is_ignored_and_filters_do_not_touch_retrieve(api, world):
    programs = {str(world[name].public_id) for name in ("program", "vip", "old")}
    assert _listed(api, "programs", {"colour": "anything"}) == programs
    # ?status= on a retrieve is not a filter: the object is found whatever its status.
    response = api.get(f"/api/v1/affiliates/{world['cid'].public_id}", {"status": "approved"})
    assert response.status_code == 200 and response.json()["status"] == "pending"


def test_the_schema_documents_each_lists_declared_filters(anonymous_api):
    doc = anonymous_api.get("/api/v1/schema/").json()
    for prefix, viewset, _ in router.registry:
        operation = doc["paths"][f"/api/v1/{prefix}"]["get"]
        names = {p["name"] for p in operation["parameters"] if p["in"] == "query"} - {"cursor", "limit"}
        assert names == set(viewset.filters().fields if viewset.filters else ()), prefix
