"""`manage.py import_affiliates`: each platform's export becomes affiliates, referred customers and unpaid
commissions, as the dashboard and the REST API show them; dry runs, second runs and bad files write nothing."""

from datetime import UTC, datetime

import pytest

from affiliates.models import Affiliate, Commission, ImportedAffiliate, LegacyCode, Referral
from tests.factories import AffiliateFactory, CommissionFactory, ReferralFactory

from .conftest import FIXTURES, results

pytestmark = pytest.mark.django_db

TABLES = (Affiliate, ImportedAffiliate, LegacyCode, Referral, Commission)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def by_email(api) -> dict[str, dict]:
    return {a["email"]: a for a in results(api, "/api/v1/affiliates")}


def test_rewardful_export_brings_affiliates_with_their_tokens_customers_and_unpaid_commissions(
    merchant, run_import, api
):
    ok, out, _ = run_import(merchant, "rewardful", "rewardful.csv")

    assert ok, out
    assert (
        "Imported: 3 new affiliates, 0 existing affiliates updated, 3 referred customers, 2 unpaid commissions" in out
    )
    affiliates = by_email(api)
    assert set(affiliates) == {"maya@example.com", "leo.brooks@example.com", "priya@example.com"}
    maya, leo, priya = (
        affiliates["maya@example.com"],
        affiliates["leo.brooks@example.com"],
        affiliates["priya@example.com"],
    )
    assert (maya["name"], maya["code"], maya["status"]) == ("Maya Chen", "maya", "approved")
    assert (leo["code"], leo["status"]) == ("leo-brews", "approved")  # "  LEO.Brooks@Example.com " trimmed, lower-case
    assert (priya["code"], priya["status"]) == ("priya", "suspended")  # disabled on Rewardful
    rows = {a.email: a for a in Affiliate.objects.for_merchant(merchant)}
    assert rows["maya@example.com"].paypal_email == "maya.payouts@example.com"
    assert rows["leo.brooks@example.com"].paypal_email == "leo.paypal@example.com"
    assert [c.code for c in rows["maya@example.com"].legacy_codes.all()] == ["maya-blog"]

    referrals = {r["customer"]: r for r in results(api, "/api/v1/referrals")}
    assert set(referrals) == {"cus_RWmaya0001", "cus_RWmaya0002", "cus_RWpriya001"}
    assert {r["source"] for r in referrals.values()} == {"manual"}
    assert referrals["cus_RWmaya0001"]["affiliate"] == maya["id"]
    assert referrals["cus_RWpriya001"]["affiliate"] == priya["id"]

    commissions = {c["source"]["id"]: c for c in results(api, "/api/v1/commissions")}
    assert set(commissions) == {
        "rewardful:39e68c88-d84a-4510-b3b4-43c75016a080",
        "rewardful:4b1f0c2e-6a0e-4f5e-9d3b-2f6a8c1d7e90",
    }  # the paid and the voided ones are left out
    due = commissions["rewardful:39e68c88-d84a-4510-b3b4-43c75016a080"]
    assert (due["amount"], due["net_amount"], due["currency"], due["status"]) == (3000, 3000, "usd", "approved")
    assert (due["affiliate"], due["referral"], due["base_amount"]) == (
        maya["id"],
        referrals["cus_RWmaya0001"]["id"],
        10000,
    )
    assert due["source"]["type"] == "import" and due["rule"] == "imported:fixed:3000 usd"
    assert due["created"].startswith("2025-08-19T16:28:31")  # when it was earned there
    pending = commissions["rewardful:4b1f0c2e-6a0e-4f5e-9d3b-2f6a8c1d7e90"]
    assert (pending["amount"], pending["status"]) == (1500, "pending")
    assert pending["hold_until"].startswith("2099-10-02T10:00:00")  # approved when Rewardful would have
    assert "line 4: commission 5c2a9d1e-0b7f-4c3a-8e6d-1a2b3c4d5e6f: already paid on Rewardful" in out
    assert "line 6: commission 6d3e8f10-2c4b-4d6a-9f8e-3b4c5d6e7f80: voided on Rewardful" in out


def test_firstpromoter_export_brings_promoters_with_their_ref_ids_customers_and_cash_rewards(merchant, run_import, api):
    ok, out, _ = run_import(merchant, "firstpromoter", "firstpromoter.csv")

    assert ok, out
    affiliates = by_email(api)
    assert {e: (a["code"], a["status"]) for e, a in affiliates.items()} == {
        "sam@example.com": ("sam12", "approved"),
        "nina@example.com": ("nina", "pending"),
        "omar@example.com": ("omar", "rejected"),
    }
    sam = Affiliate.objects.for_merchant(merchant).get(email="sam@example.com")
    assert sam.name == "Sam Ortiz" and sam.paypal_email == "sam.paypal@example.com"
    # The ref id of its second link (https://shop.example/pricing?fpr=sam-podcast) keeps working.
    assert [c.code for c in sam.legacy_codes.all()] == ["sam-podcast"]
    referrals = {r["customer"]: r["affiliate"] for r in results(api, "/api/v1/referrals")}
    assert referrals == {"cus_FPsam00001": str(sam.public_id), "cus_FPsam00002": str(sam.public_id)}
    commissions = {
        c["source"]["id"]: (c["amount"], c["currency"], c["status"]) for c in results(api, "/api/v1/commissions")
    }
    assert commissions == {
        "firstpromoter:77001": (1470, "usd", "approved"),
        "firstpromoter:77002": (980, "usd", "pending"),
    }
    assert "line 4: commission 77003: a reward in free_months, not money" in out
    assert "line 5: commission 77004: denied on FirstPromoter" in out


def test_tolt_export_brings_partners_with_their_links_customers_and_commissions(merchant, run_import, api):
    ok, out, _ = run_import(merchant, "tolt", "tolt.csv")

    assert ok, out
    affiliates = by_email(api)
    assert {e: (a["name"], a["code"], a["status"]) for e, a in affiliates.items()} == {
        "michael.scott@example.com": ("Michael Scott", "michael_scott", "approved"),
        "dwight@example.com": ("Dwight Schrute", "dwight", "pending"),
    }
    michael = Affiliate.objects.for_merchant(merchant).get(email="michael.scott@example.com")
    dwight = Affiliate.objects.for_merchant(merchant).get(email="dwight@example.com")
    assert michael.paypal_email == "michael.paypal@example.com"
    assert dwight.paypal_email == ""  # paid by Wise there: not a PayPal address
    assert [c.code for c in michael.legacy_codes.all()] == ["mscott"]
    referrals = {r["customer"]: r["affiliate"] for r in results(api, "/api/v1/referrals")}
    assert referrals == {
        "cus_TLjim000001": str(michael.public_id),
        "cus_TLpam000001": str(michael.public_id),
        "cus_TLang000001": str(dwight.public_id),  # bound, though its commission was paid on Tolt
    }
    assert Referral.objects.get(stripe_customer_id="cus_TLjim000001").customer_email == "jim@customer.example"
    commissions = {
        c["source"]["id"]: (c["amount"], c["currency"], c["status"]) for c in results(api, "/api/v1/commissions")
    }
    # Tolt's commissions name no currency: the program's.
    assert commissions == {
        "tolt:comm_7Lq3NzVx8KtRb2WcYm5pHd4j": (1470, "usd", "approved"),
        "tolt:comm_X85RLnefjTCNrypH4MA1PdSp": (2940, "usd", "pending"),
    }
    assert "line 5: commission comm_3RtV9kQ2mW8nX5pL1sB7cD4f: already paid on Tolt" in out


@pytest.mark.parametrize("platform", ["rewardful", "firstpromoter", "tolt"])
def test_a_dry_run_says_what_would_change_and_writes_nothing(merchant, run_import, platform):
    before = counts()

    ok, out, _ = run_import(merchant, platform, f"{platform}.csv", dry_run=True)

    assert ok, out
    assert "(dry run: nothing written)" in out and "Would import:" in out and "New affiliates:" in out
    assert counts() == before


@pytest.mark.parametrize("platform", ["rewardful", "firstpromoter", "tolt"])
def test_importing_the_same_file_again_writes_nothing(merchant, run_import, platform):
    run_import(merchant, platform, f"{platform}.csv")
    after_first = counts()

    ok, out, _ = run_import(merchant, platform, f"{platform}.csv")

    assert ok, out
    assert counts() == after_first
    assert "Nothing to import: 0 new affiliates, 0 existing affiliates updated, 0 referred customers" in out
    assert "was imported before" in out and "nothing to change" in out


def test_a_file_with_bad_lines_writes_nothing_and_names_each_line(merchant, run_import):
    ok, out, error = run_import(merchant, "rewardful", "rewardful_bad.csv")

    assert not ok
    assert error == "Nothing written: 6 errors. Fix those lines and import the file again."
    for expected in (
        "line 3: the email 'not-an-email' is not an email address",
        "line 4: the code 'has space' is not 1 to 64 letters, digits, '-' or '_'",
        "line 5: the commission amount '30.00' is not a whole number of the currency's minor unit",
        "line 6: the status 'archived' is not one of: active, disabled, suspicious",
        "line 7: the customer '12345' is not a Stripe customer id (cus_...)",
        "line 8: a commission without its id",
    ):
        assert expected in out
    assert counts() == dict.fromkeys(counts(), 0)  # not even line 2, which is good


def test_an_affiliate_already_here_keeps_its_data_and_its_old_links_keep_working(merchant, run_import):
    maya = AffiliateFactory(
        merchant=merchant, program=merchant.programs.get(), email="maya@example.com", name="Maya C.", code="maya-c"
    )
    maya.paypal_email = ""
    Affiliate.objects.filter(pk=maya.pk).update(paypal_email="")

    ok, out, _ = run_import(merchant, "rewardful", "rewardful.csv")

    assert ok, out
    maya.refresh_from_db()
    assert (maya.name, maya.code, maya.email) == ("Maya C.", "maya-c", "maya@example.com")  # hers is kept
    assert maya.paypal_email == "maya.payouts@example.com"  # an empty field is filled in
    assert sorted(c.code for c in maya.legacy_codes.all()) == ["maya", "maya-blog"]
    assert ImportedAffiliate.objects.get(affiliate=maya).external_id == "d0ed8392-8880-4f39-8715-60230f9eceab"
    assert "line 2: maya@example.com (matched by email); keeps name 'Maya C.' (the export has 'Maya Chen')" in out
    assert Affiliate.objects.for_merchant(merchant).count() == 3
    assert set(Referral.objects.filter(affiliate=maya).values_list("stripe_customer_id", flat=True)) == {
        "cus_RWmaya0001",
        "cus_RWmaya0002",
    }


def test_a_code_of_another_affiliate_here_is_reported_not_overwritten(merchant, run_import):
    bob = AffiliateFactory(merchant=merchant, program=merchant.programs.get(), email="bob@example.com", code="MAYA")

    ok, out, error = run_import(merchant, "rewardful", "rewardful.csv")

    assert not ok and error.startswith("Nothing written: 1 error.")
    assert "line 2: the code 'maya' belongs to another affiliate here (bob@example.com): it is not overwritten" in out
    bob.refresh_from_db()
    assert bob.code == "MAYA" and Affiliate.objects.count() == 1 and Commission.objects.count() == 0


def test_a_customer_referred_by_another_affiliate_here_is_reported_not_moved(merchant, run_import):
    bob = AffiliateFactory(merchant=merchant, program=merchant.programs.get(), email="bob@example.com", code="bob")
    ReferralFactory(affiliate=bob, stripe_customer_id="cus_RWmaya0002")

    ok, out, _ = run_import(merchant, "rewardful", "rewardful.csv")

    assert not ok
    assert "line 3: the customer cus_RWmaya0002 is already referred by bob@example.com here" in out
    assert Referral.objects.get(stripe_customer_id="cus_RWmaya0002").affiliate == bob
    assert Affiliate.objects.count() == 1


def test_another_merchants_affiliates_customers_and_commissions_are_never_matched(
    merchant, other_merchant, run_import, api
):
    theirs = AffiliateFactory(
        merchant=other_merchant, program=other_merchant.programs.get(), email="maya@example.com", code="maya"
    )
    their_referral = ReferralFactory(affiliate=theirs, stripe_customer_id="cus_RWmaya0001")
    their_commission = CommissionFactory(
        referral=their_referral, source_id="rewardful:39e68c88-d84a-4510-b3b4-43c75016a080", amount=999
    )
    ImportedAffiliate.objects.create(
        merchant=other_merchant,
        affiliate=theirs,
        platform="rewardful",
        external_id="d0ed8392-8880-4f39-8715-60230f9eceab",
    )
    LegacyCode.objects.create(merchant=other_merchant, affiliate=theirs, code="maya-blog", platform="rewardful")

    ok, out, _ = run_import(merchant, "rewardful", "rewardful.csv")

    assert ok, out
    assert "Imported: 3 new affiliates" in out
    mine = Affiliate.objects.for_merchant(merchant).get(email="maya@example.com")
    assert mine.pk != theirs.pk and mine.code == "maya"
    assert Referral.objects.for_merchant(merchant).get(stripe_customer_id="cus_RWmaya0001").affiliate == mine
    assert Commission.objects.for_merchant(merchant).filter(source_id=their_commission.source_id).count() == 1
    # Theirs, untouched.
    theirs.refresh_from_db()
    their_referral.refresh_from_db()
    their_commission.refresh_from_db()
    assert (theirs.code, theirs.name, their_referral.affiliate_id, their_commission.amount) == (
        "maya",
        theirs.name,
        theirs.pk,
        999,
    )
    assert Affiliate.objects.for_merchant(other_merchant).count() == 1
    assert [c.code for c in theirs.legacy_codes.all()] == ["maya-blog"]
    assert {a["email"] for a in results(api, "/api/v1/affiliates")} == {
        "maya@example.com",
        "leo.brooks@example.com",
        "priya@example.com",
    }


def test_a_file_that_names_no_affiliate_or_no_merchant_is_refused(merchant, run_import, tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("name,score\nMaya,3\n")
    ok, out, _ = run_import(merchant, "tolt", odd)
    assert not ok and "line 1: no column names the affiliate: a Tolt export has partner_id or email" in out

    binary = tmp_path / "latin1.csv"
    binary.write_bytes("email,first_name\njos\xe9@example.com,Jos\xe9\n".encode("latin-1"))
    ok, _, error = run_import(merchant, "tolt", binary)
    assert not ok and "not UTF-8" in error

    merchant.slug = "nobody-has-this"
    ok, _, error = run_import(merchant, "tolt", "tolt.csv")
    assert not ok and error == "--merchant: no merchant has the slug 'nobody-has-this'."
    assert counts() == dict.fromkeys(counts(), 0)


def test_the_imported_day_and_due_date_come_from_the_export(merchant, run_import):
    run_import(merchant, "rewardful", "rewardful.csv")
    due = Commission.objects.get(source_id="rewardful:39e68c88-d84a-4510-b3b4-43c75016a080")
    assert due.created_at == datetime(2025, 8, 19, 16, 28, 31, 164000, tzinfo=UTC)
    assert due.approved_at is not None and due.payout_id is None  # payable in the next payout batch
    assert FIXTURES.joinpath("rewardful.csv").exists()
