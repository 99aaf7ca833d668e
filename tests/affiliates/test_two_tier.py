"""Two-tier programs: an affiliate that joined through another's link is its sub-affiliate, and the parent earns a
share of the sub-affiliate's commissions, reversed when those are, one level only, never for itself.

Through the real paths: the public signup page (with the tracker's cookie or `?ref=`), signed Stripe events posted
to the webhook, the dashboard's void button and the portal's pages."""

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import TestCase
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliates import money
from affiliates.models import Affiliate, Commission
from affiliates.services import (
    approve_commission,
    create_payout_batch,
    create_program,
    default_program,
    mark_payout_paid,
    update_program,
)
from affiliates.services.payouts import owed_back_balances
from stripe_integration.models import StripeEvent
from tests.factories import AffiliateFactory, MembershipFactory, ReferralFactory, UserFactory
from tests.stripe_events import charge, checkout_session, dispute, make_event, new_id, payment_intent, post_event

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-secret-phrase"


def join_url(merchant, program=None) -> str:
    if program is None or program.is_default:
        return reverse("affiliates:portal_signup", kwargs={"slug": merchant.slug})
    return reverse("affiliates:portal_program_signup", kwargs={"slug": merchant.slug, "program": program.slug})


@pytest.fixture
def program(merchant):
    """The default program, 20% a payment, two-tier with a share of 33.33% (an awkward one, for the rounding)."""
    return update_program(default_program(merchant), two_tier=True, two_tier_bps=3333, auto_approve=True)


@pytest.fixture
def maya(merchant, program):
    """The parent: an approved affiliate with a portal account."""
    user = UserFactory(email="maya@example.net")
    return AffiliateFactory(merchant=merchant, program=program, code="maya", email=user.email, name="Maya", user=user)


def sign_up(client, merchant, email: str, *, program=None, query: str = "", cookie: str = "") -> Affiliate:
    if cookie:
        client.cookies["afficone_ref"] = cookie
    name = email.split("@")[0].title()  # the code is made from it: "sam@…" gets the code "sam"
    response = client.post(join_url(merchant, program) + query, {"name": name, "email": email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    client.logout()
    client.cookies.pop("afficone_ref", None)
    return Affiliate.objects.get(merchant=merchant, email=email)


@pytest.fixture
def sam(client, merchant, maya):
    """Maya's sub-affiliate, signed up on the public page with Maya's referral in the tracker's cookie."""
    return sign_up(client, merchant, "sam@example.net", cookie=ReferralFactory(affiliate=maya).rid)


def deliver(client, merchant, type_, obj, *, event_id=None):
    event = make_event(type_, obj, account=merchant.stripe_account_id, id=event_id)
    assert post_event(client, event).status_code == 200
    return event


def rows(merchant):
    """(affiliate code, source type, amount, reversed, status, on hold) of every commission, children first."""
    return [
        (c.affiliate.code, c.source_type, c.amount, c.reversed_amount, c.status, c.is_on_hold)
        for c in Commission.objects.for_merchant(merchant).select_related("affiliate").order_by("pk")
    ]


def checkout(client, merchant, sub, amount=9999):
    session = checkout_session(client_reference_id=ReferralFactory(affiliate=sub).rid, amount_total=amount)
    deliver(client, merchant, "checkout.session.completed", session)
    return session


# --- the parent ----------------------------------------------------------------------------------------------------


def test_signing_up_with_another_affiliates_referral_cookie_makes_it_the_parent(client, merchant, maya, sam):
    assert sam.parent == maya and sam.status == "approved"
    assert list(maya.sub_affiliates.all()) == [sam]


def test_a_ref_code_on_the_signup_url_makes_the_parent_on_any_programs_page(client, merchant, maya):
    vip = create_program(merchant, name="VIP", two_tier=True)
    sub = sign_up(client, merchant, "vic@example.net", program=vip, query="?ref=MAYA")
    assert (sub.parent, sub.program) == (maya, vip)


def test_no_parent_from_an_unapproved_unknown_or_other_merchants_affiliate(
    client, merchant, other_merchant, program, maya
):
    pending = AffiliateFactory(merchant=merchant, program=program, code="pending", status="pending")
    theirs = AffiliateFactory(merchant=other_merchant, program=default_program(other_merchant), code="theirs")
    assert sign_up(client, merchant, "a@example.net", query="?ref=pending").parent is None
    assert sign_up(client, merchant, "b@example.net", query="?ref=nobody").parent is None
    assert sign_up(client, merchant, "c@example.net", query="?ref=theirs").parent is None
    assert sign_up(client, merchant, "d@example.net", cookie=ReferralFactory(affiliate=theirs).rid).parent is None
    assert sign_up(client, merchant, "e@example.net", cookie=ReferralFactory(affiliate=pending).rid).parent is None
    assert not Affiliate.objects.filter(parent__isnull=False).exists()


def test_an_affiliate_is_never_its_own_parent_in_the_database(maya):
    with pytest.raises(IntegrityError), transaction.atomic():
        Affiliate.objects.filter(pk=maya.pk).update(parent=maya)


# --- commissions through the webhook -------------------------------------------------------------------------------


def test_a_sub_affiliates_checkout_gives_both_commissions(client, merchant, maya, sam):
    MembershipFactory(merchant=merchant)
    mail.outbox.clear()
    session = checkout(client, merchant, sam)
    child, share = Commission.objects.for_merchant(merchant).order_by("pk")
    # 20% of 99.99 is 20.00 (half-up); the parent's 33.33% of that is 6.666, so 6.67.
    assert (child.affiliate, child.amount, child.base_amount) == (sam, 2000, 9999)
    assert (share.affiliate, share.amount, share.base_amount, share.currency) == (maya, 667, 0, "usd")
    assert share.source_type == Commission.SourceType.TWO_TIER
    assert share.source_id == f"two_tier:{child.public_id}"
    assert (share.rule_source, share.rule_type, share.rule_bps, share.rule_label) == (
        "two_tier",
        "percent",
        3333,
        "two_tier:percent:3333bps",
    )
    assert share.referral is None and share.program == child.program and share.hold_until == child.hold_until
    assert share.status == "pending" and child.source_id == session["payment_intent"]
    assert sorted(m.to[0] for m in mail.outbox) == ["maya@example.net", "sam@example.net"]
    maya_mail = next(m for m in mail.outbox if m.to == ["maya@example.net"])
    assert "joined" in maya_mail.body and "$6.67" in maya_mail.body


def test_a_partial_refund_reverses_both_in_proportion_and_a_full_one_voids_both(client, merchant, maya, sam):
    session = checkout(client, merchant, sam)
    pi = session["payment_intent"]
    deliver(client, merchant, "charge.refunded", charge(payment_intent=pi, amount=9999, amount_refunded=3333))
    # The child: 2000 * 3333/9999 = 666.67 → 667; the parent: 667 * 667/2000 = 222.44 → 222.
    assert rows(merchant) == [
        ("sam", "payment_intent", 2000, 667, "pending", False),
        ("maya", "two_tier", 667, 222, "pending", False),
    ]
    deliver(client, merchant, "charge.refunded", charge(payment_intent=pi, amount=9999, amount_refunded=6666))
    assert rows(merchant)[1] == ("maya", "two_tier", 667, 445, "pending", False)  # 667 * 1333/2000 = 444.56
    deliver(client, merchant, "charge.refunded", charge(payment_intent=pi, amount=9999, amount_refunded=9999))
    assert rows(merchant) == [
        ("sam", "payment_intent", 2000, 2000, "voided", False),
        ("maya", "two_tier", 667, 667, "voided", False),
    ]


def test_replaying_every_event_writes_nothing_twice(client, merchant, maya, sam):
    referral = ReferralFactory(affiliate=sam)
    session = checkout_session(client_reference_id=referral.rid, amount_total=9999)
    pi = session["payment_intent"]
    intent = payment_intent(id=pi, amount=9999, amount_received=9999, metadata={"_afficoneRef": referral.rid})
    refund = charge(payment_intent=pi, amount=9999, amount_refunded=3333)
    events = [
        deliver(client, merchant, "checkout.session.completed", session),
        deliver(client, merchant, "payment_intent.succeeded", intent),
        deliver(client, merchant, "charge.refunded", refund),
    ]
    before = rows(merchant)
    assert len(before) == 2 and before[1][:4] == ("maya", "two_tier", 667, 222)
    for event in events:  # Stripe's redeliveries (same ids), then the same objects in new events
        assert post_event(client, event).status_code == 200
    for type_, obj in (("checkout.session.completed", session), ("charge.refunded", refund)):
        deliver(client, merchant, type_, obj)
    assert rows(merchant) == before
    assert not StripeEvent.objects.filter(merchant=merchant, status__in=["failed", "waiting", "pending"]).exists()


def test_a_dispute_holds_both_and_losing_it_reverses_both(client, merchant, maya, sam):
    session = checkout(client, merchant, sam)
    opened = dispute(charge=new_id("ch"), payment_intent=session["payment_intent"])
    deliver(client, merchant, "charge.dispute.created", opened)
    assert [(r[0], r[5]) for r in rows(merchant)] == [("sam", True), ("maya", True)]
    deliver(client, merchant, "charge.dispute.closed", dict(opened, status="lost"))
    assert rows(merchant) == [
        ("sam", "payment_intent", 2000, 2000, "voided", False),
        ("maya", "two_tier", 667, 667, "voided", False),
    ]


def test_the_merchant_voiding_the_childs_commission_voids_the_parents(client, merchant, maya, sam):
    checkout(client, merchant, sam)
    child = Commission.objects.get(affiliate=sam)
    client.force_login(MembershipFactory(merchant=merchant).user)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("affiliates:commission_void", kwargs={"code": child.public_id}), {"reason": "Fraud"}
        )
    assert response.status_code == 302
    share = Commission.objects.get(affiliate=maya)
    assert (share.status, share.reversed_amount, share.void_reason) == (
        "voided",
        667,
        "The sub-affiliate's commission was voided.",
    )


def test_nothing_for_an_unapproved_parent_a_program_without_two_tier_or_a_grandparent(client, merchant, maya, sam):
    grandchild = sign_up(client, merchant, "gus@example.net", query="?ref=" + sam.code)
    assert grandchild.parent == sam
    checkout(client, merchant, grandchild)
    # Sam earns a share of Gus's commission; Maya, Sam's parent, earns nothing from it (one level only).
    assert [(r[0], r[1], r[2]) for r in rows(merchant)] == [("gus", "payment_intent", 2000), ("sam", "two_tier", 667)]

    Affiliate.objects.filter(pk=sam.pk).update(status="suspended")
    checkout(client, merchant, grandchild)
    assert [r[0] for r in rows(merchant)] == ["gus", "sam", "gus"]  # a suspended parent earns nothing

    Affiliate.objects.filter(pk=sam.pk).update(status="approved")
    update_program(default_program(merchant), two_tier=False)
    checkout(client, merchant, grandchild)
    assert [r[0] for r in rows(merchant)] == ["gus", "sam", "gus", "gus"]  # two-tier off: no share


# --- the portal ----------------------------------------------------------------------------------------------------


def test_the_parents_portal_shows_the_two_tier_commission_and_the_child_sees_its_parent(client, merchant, maya, sam):
    checkout(client, merchant, sam)
    client.force_login(maya.user)
    portal = client.get(reverse("affiliates:portal_dashboard", kwargs={"slug": merchant.slug})).content.decode()
    assert "33.33% of a sub-affiliate's commission" in portal and "$6.67" in portal
    assert "Recruit affiliates" in portal and f"/p/{merchant.slug}/join/?ref=maya" in portal
    assert "1 joined so far" in portal
    listed = client.get(reverse("affiliates:portal_commissions", kwargs={"slug": merchant.slug})).content.decode()
    assert "33.33% of a sub-affiliate's commission" in listed and "$6.67" in listed

    sams_user = sam.user
    client.force_login(sams_user)
    portal = client.get(reverse("affiliates:portal_dashboard", kwargs={"slug": merchant.slug})).content.decode()
    assert "Referred by <strong>Maya</strong>" in portal
    assert "sub-affiliate" not in portal and "$20.00" in portal  # Sam sees only its own commission


# --- exactness -----------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amount=st.integers(1, 10**7),
    bps=st.integers(1, 10000),
    refunds=st.lists(st.integers(0, 10**7), min_size=1, max_size=4),
)
def test_the_parents_reversal_is_exact_and_never_exceeds_its_amount(client, merchant, maya, sam, amount, bps, refunds):
    update_program(default_program(merchant), two_tier_bps=bps)
    session = checkout(client, merchant, sam, amount=amount)
    child = Commission.objects.get(affiliate=sam, source_id=session["payment_intent"])
    share = Commission.objects.filter(source_id=f"two_tier:{child.public_id}").first()
    expected = money.percent_of(child.amount, bps)
    if expected == 0:
        assert share is None  # nothing to share: nothing written
        return
    assert share.amount == expected
    for refunded in sorted(min(r, amount) for r in refunds):
        charged = charge(payment_intent=session["payment_intent"], amount=amount, amount_refunded=refunded)
        deliver(client, merchant, "charge.refunded", charged)
        child.refresh_from_db()
        share.refresh_from_db()
        assert 0 <= share.reversed_amount <= share.amount
        assert share.reversed_amount == (
            share.amount
            if child.reversed_amount == child.amount
            else money.proportion(share.amount, child.reversed_amount, child.amount)
        )


def test_a_paid_share_keeps_its_amount_and_a_later_refund_is_owed_back(client, merchant, maya, sam):
    update_program(default_program(merchant), min_payout_amount=100)
    session = checkout(client, merchant, sam)
    share = Commission.objects.get(affiliate=maya)
    approve_commission(share)
    create_payout_batch(merchant)
    share.refresh_from_db()
    mark_payout_paid(share.payout)
    pi = session["payment_intent"]
    deliver(client, merchant, "charge.refunded", charge(payment_intent=pi, amount=9999, amount_refunded=3333))
    share.refresh_from_db()
    assert (share.status, share.amount, share.reversed_amount, share.paid_amount) == ("paid", 667, 222, 667)
    assert owed_back_balances(merchant) == {(maya.pk, "usd"): 222}  # the next payout deducts it
    deliver(client, merchant, "charge.refunded", charge(payment_intent=pi, amount=9999, amount_refunded=9999))
    share.refresh_from_db()
    assert (share.status, share.reversed_amount) == ("paid", 667)
    assert owed_back_balances(merchant) == {(maya.pk, "usd"): 667}
