"""Affiliates, referrals, commissions, payouts and programs through /api/v1/: fields, filters, pagination, writes."""

from datetime import timedelta

from django.core import mail
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Payout, Program
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory

from .conftest import assert_error


def test_create_affiliate_returns_code_and_link_on_the_merchant_site(api, merchant):
    merchant.website = "https://shop.example.com/?lang=en"
    merchant.save()
    response = api.post("/api/v1/affiliates", {"email": "Bob@Example.com", "name": "Bob Builder", "code": "bob-2024"})
    assert response.status_code == 201, response.content
    body = response.json()
    affiliate = Affiliate.objects.get(merchant=merchant, code="bob-2024")
    assert body["id"] == str(affiliate.public_id)
    assert body["code"] == "bob-2024"
    assert body["status"] == "approved"  # created by the merchant
    assert body["link"] == "https://shop.example.com/?lang=en&ref=bob-2024"
    assert body["program"] == str(merchant.programs.get(is_default=True).public_id)
    assert affiliate.email == "bob@example.com"


def test_create_affiliate_without_website_links_to_this_app_and_suggests_a_code(api, merchant, settings):
    settings.SITE_URL = "https://afficone.example"
    response = api.post("/api/v1/affiliates", {"email": "carol@example.com", "name": "Carol Danvers"})
    assert response.status_code == 201
    code = response.json()["code"]
    assert code and Affiliate.objects.filter(merchant=merchant, code=code).exists()
    assert response.json()["link"] == f"https://afficone.example/?ref={code}"


def test_create_affiliate_bad_input_says_which_field_and_stores_nothing(api, merchant, affiliate):
    assert_error(api.post("/api/v1/affiliates", {"name": "No Email"}), 400, code="required", field="email")
    assert_error(api.post("/api/v1/affiliates", {"email": "x@example.com", "code": "has space"}), 400, field="code")
    assert_error(
        api.post("/api/v1/affiliates", {"email": "x@example.com", "code": "ALICE"}), 409, code="unique", field="code"
    )
    assert_error(api.post("/api/v1/affiliates", {"email": affiliate.email.upper()}), 409, code="unique", field="email")
    assert_error(api.post("/api/v1/affiliates", {"email": "x@example.com", "program": "nope"}), 400, field="program")
    assert_error(
        api.post("/api/v1/affiliates", {"email": "x@example.com", "name": 7}), 400, code="invalid_type", field="name"
    )
    assert list(Affiliate.objects.filter(merchant=merchant)) == [affiliate]


def test_list_affiliates_filters_by_status_email_and_code(api, merchant):
    program = merchant.programs.get(is_default=True)
    AffiliateFactory(merchant=merchant, program=program, code="ann", email="ann@example.com")
    AffiliateFactory(merchant=merchant, program=program, code="ben", email="ben@example.com", status="pending")
    AffiliateFactory(merchant=merchant, program=program, code="cid", email="cid@example.com", status="suspended")

    def codes(**params):
        response = api.get("/api/v1/affiliates", params)
        assert response.status_code == 200
        return sorted(a["code"] for a in response.json()["results"])

    assert codes() == ["ann", "ben", "cid"]
    assert codes(status="pending") == ["ben"]
    assert codes(email="ANN@example.com") == ["ann"]
    assert codes(code="CID") == ["cid"]
    assert codes(status="approved", code="ben") == []
    assert_error(api.get("/api/v1/affiliates", {"status": "sleeping"}), 400, code="invalid_choice", field="status")
    assert_error(api.get("/api/v1/affiliates", {"status": ""}), 400, field="status")


def test_update_affiliate_code_override_and_status(api, merchant, affiliate):
    url = f"/api/v1/affiliates/{affiliate.public_id}"
    response = api.patch(url, {"code": "alice-new", "commission_override": {"type": "percent", "bps": 3500}})
    assert response.status_code == 200, response.content
    assert response.json()["commission_override"] == {"type": "percent", "bps": 3500}
    affiliate.refresh_from_db()
    assert (affiliate.code, affiliate.commission_type_override, affiliate.commission_bps_override) == (
        "alice-new",
        "percent",
        3500,
    )

    assert api.patch(url, {"status": "suspended"}).json()["status"] == "suspended"
    affiliate.refresh_from_db()
    assert affiliate.status == "suspended"
    assert affiliate.commission_bps_override == 3500  # a status change leaves the rest alone

    assert api.patch(url, {"commission_override": None}).json()["commission_override"] is None
    affiliate.refresh_from_db()
    assert affiliate.commission_type_override == "" and affiliate.code == "alice-new"

    assert_error(api.patch(url, {"commission_override": {"type": "percent"}}), 400, field="commission_override.bps")
    assert_error(
        api.patch(url, {"commission_override": {"type": "percent", "bps": 10001}}), 400, field="commission_override.bps"
    )
    assert_error(api.patch(url, {"commission_override": {"type": "bonus"}}), 400, field="commission_override")
    response = api.patch(url, {"commission_override": {"type": "fixed", "amount": 1500}})
    assert response.json()["commission_override"] == {"type": "fixed", "amount": 1500}
    affiliate.refresh_from_db()
    assert (affiliate.commission_type_override, affiliate.commission_amount_override) == ("fixed", 1500)


def test_approving_a_pending_affiliate_emails_them(api, merchant, django_capture_on_commit_callbacks):
    pending = AffiliateFactory(merchant=merchant, program=merchant.programs.get(is_default=True), status="pending")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/api/v1/affiliates/{pending.public_id}", {"status": "approved"})
    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.status == "approved" and pending.approved_at is not None
    assert [m.to for m in mail.outbox] == [[pending.email]]


def test_referrals_filter_by_affiliate_and_customer(api, merchant, affiliate):
    other_affiliate = AffiliateFactory(merchant=merchant, program=affiliate.program)
    mine = ReferralFactory(affiliate=affiliate, stripe_customer_id="cus_A", customer_email="a@example.org")
    ReferralFactory(affiliate=affiliate)
    theirs = ReferralFactory(affiliate=other_affiliate, stripe_customer_id="cus_B")

    def ids(**params):
        response = api.get("/api/v1/referrals", params)
        assert response.status_code == 200
        return {r["id"] for r in response.json()["results"]}

    assert len(ids()) == 3
    assert len(ids(affiliate=str(affiliate.public_id))) == 2
    assert ids(customer="cus_B") == {theirs.rid}
    assert ids(customer_email="A@example.org") == {mine.rid}
    body = api.get(f"/api/v1/referrals/{mine.rid}").json()
    assert body == {
        "id": mine.rid,
        "affiliate": str(affiliate.public_id),
        "customer": "cus_A",
        "customer_email": "a@example.org",
        "source": "click",
        "backfill": None,
        "created": body["created"],
        "converted_at": None,
    }


def test_commissions_filter_by_affiliate_status_and_created_range(api, merchant, affiliate):
    other_affiliate = AffiliateFactory(merchant=merchant, program=affiliate.program)
    old = CommissionFactory(referral=ReferralFactory(affiliate=affiliate))
    Commission.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    recent = CommissionFactory(referral=ReferralFactory(affiliate=affiliate), status="approved")
    theirs = CommissionFactory(referral=ReferralFactory(affiliate=other_affiliate))

    def ids(**params):
        response = api.get("/api/v1/commissions", params)
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["results"]}

    assert ids() == {str(old.public_id), str(recent.public_id), str(theirs.public_id)}
    assert ids(affiliate=str(affiliate.public_id)) == {str(old.public_id), str(recent.public_id)}
    assert ids(status="approved") == {str(recent.public_id)}
    cutoff = (timezone.now() - timedelta(days=30)).isoformat()
    assert ids(created_gte=cutoff) == {str(recent.public_id), str(theirs.public_id)}
    assert ids(created_lte=cutoff) == {str(old.public_id)}
    assert_error(api.get("/api/v1/commissions", {"created_gte": "last week"}), 400, field="created_gte")
    assert_error(api.get("/api/v1/commissions", {"affiliate": "not-a-uuid"}), 400, field="affiliate")
    assert api.get("/api/v1/commissions", {"affiliate": "0b5e1a9e-0000-4000-8000-000000000000"}).json()["results"] == []

    body = api.get(f"/api/v1/commissions/{recent.public_id}").json()
    assert body["source"] == {"type": "payment_intent", "id": recent.source_id}
    assert (body["amount"], body["net_amount"], body["currency"], body["status"]) == (2000, 2000, "usd", "approved")
    assert body["referral"] == recent.referral.rid


def test_approve_and_void_commissions(api, affiliate):
    pending = CommissionFactory(referral=ReferralFactory(affiliate=affiliate))
    other = CommissionFactory(referral=ReferralFactory(affiliate=affiliate))

    response = api.post(f"/api/v1/commissions/{pending.public_id}/approve")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    pending.refresh_from_db()
    assert pending.status == "approved" and pending.approved_at is not None
    # Approving twice is a conflict, and changes nothing.
    assert_error(api.post(f"/api/v1/commissions/{pending.public_id}/approve"), 409, code="conflict")

    assert_error(api.post(f"/api/v1/commissions/{other.public_id}/void", {}), 400, code="required", field="reason")
    response = api.post(f"/api/v1/commissions/{other.public_id}/void", {"reason": "Order cancelled"})
    assert response.status_code == 200
    other.refresh_from_db()
    assert (other.status, other.void_reason) == ("voided", "Order cancelled")
    assert_error(api.post(f"/api/v1/commissions/{other.public_id}/approve"), 409)


def test_payout_batch_and_mark_paid(api, merchant, affiliate, django_capture_on_commit_callbacks):
    assert api.post("/api/v1/payouts").json() == {"batch": None, "payouts": []}  # nobody due yet
    first = CommissionFactory(referral=ReferralFactory(affiliate=affiliate), amount=3000, status="approved")
    second = CommissionFactory(referral=ReferralFactory(affiliate=affiliate), amount=2500, status="approved")

    response = api.post("/api/v1/payouts")
    assert response.status_code == 201, response.content
    body = response.json()
    payout = Payout.objects.get(merchant=merchant)
    assert body["batch"] == str(payout.batch.public_id)
    [item] = body["payouts"]
    assert (item["id"], item["amount"], item["currency"], item["status"]) == (
        str(payout.public_id),
        5500,
        "usd",
        "pending",
    )
    assert set(item["commissions"]) == {str(first.public_id), str(second.public_id)}

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/payouts/{payout.public_id}/mark-paid", {"reference": "PAYPAL-123"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reference"]) == ("paid", "PAYPAL-123")
    first.refresh_from_db()
    assert first.status == "paid"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [affiliate.email]
    assert_error(api.post(f"/api/v1/payouts/{payout.public_id}/mark-paid"), 409)
    assert [p["id"] for p in api.get("/api/v1/payouts", {"status": "paid"}).json()["results"]] == [
        str(payout.public_id)
    ]
    assert api.get("/api/v1/payouts", {"status": "pending"}).json()["results"] == []


def test_programs_list_retrieve_and_update(api, merchant):
    program = merchant.programs.get(is_default=True)
    [listed] = api.get("/api/v1/programs").json()["results"]
    assert listed["id"] == str(program.public_id)
    assert (listed["commission_type"], listed["commission_bps"], listed["recurring_months"]) == ("percent", 2000, 12)
    assert (listed["cookie_days"], listed["hold_days"]) == (60, 30)

    response = api.patch(
        f"/api/v1/programs/{program.public_id}", {"commission_bps": 2500, "cookie_days": 90, "recurring_months": None}
    )
    assert response.status_code == 200, response.content
    program.refresh_from_db()
    assert (program.commission_bps, program.cookie_days, program.recurring_months) == (2500, 90, None)
    assert_error(
        api.patch(f"/api/v1/programs/{program.public_id}", {"cookie_days": 0}),
        400,
        code="min_value",
        field="cookie_days",
    )
    assert_error(
        api.patch(f"/api/v1/programs/{program.public_id}", {"commission_bps": 20000}), 400, field="commission_bps"
    )
    assert_error(
        api.patch(f"/api/v1/programs/{program.public_id}", {"auto_approve": 1}),
        400,
        code="invalid_type",
        field="auto_approve",
    )
    program.refresh_from_db()
    assert (program.commission_bps, program.cookie_days) == (2500, 90)
    assert Program.objects.filter(merchant=merchant).count() == 1


def test_cursor_pagination_walks_every_row_once(api, affiliate):
    created = {str(CommissionFactory(referral=ReferralFactory(affiliate=affiliate)).public_id) for _ in range(7)}
    # Same timestamp for several rows: the cursor must still neither skip nor repeat.
    Commission.objects.filter(affiliate=affiliate).update(created_at=timezone.now())
    seen, url, pages = [], "/api/v1/commissions?limit=3", 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        body = response.json()
        assert len(body["results"]) <= 3
        seen += [c["id"] for c in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert sorted(seen) == sorted(created)
    assert_error(api.get("/api/v1/commissions", {"cursor": "garbage"}), 404, field="cursor")
    assert_error(api.get("/api/v1/commissions", {"limit": "0"}), 400, field="limit")
