"""Reading exports as merchants have them: other column spellings and separators, several lines per affiliate,
and a file that contradicts itself (reported by line, nothing written)."""

import pytest

from affiliates import importers
from affiliates.models import Affiliate, LegacyCode, Referral

pytestmark = pytest.mark.django_db


def test_rewardfuls_import_spreadsheet_headers_read_as_they_are(merchant):
    # The help centre's spreadsheet, with the names as people type them, saved by a spreadsheet using semicolons.
    text = (
        "Stripe Customer ID;First Name;Last Name;Email;PayPal Email;Token;Notes\n"
        "cus_SHEET00001;Ana;Lima;ana@example.com;;ana;met at a conference\n"
        "cus_SHEET00002;Ana;Lima;ana@example.com;;ana;\n"
    )

    report = importers.import_rows(merchant, importers.read_csv("rewardful", text))

    assert report.applied and report.errors == [] and report.ignored_columns == ["Notes"]
    ana = Affiliate.objects.for_merchant(merchant).get(email="ana@example.com")
    assert (ana.name, ana.code, ana.status) == ("Ana Lima", "ana", "approved")
    assert set(Referral.objects.filter(affiliate=ana).values_list("stripe_customer_id", flat=True)) == {
        "cus_SHEET00001",
        "cus_SHEET00002",
    }


def test_a_file_that_contradicts_itself_is_reported_by_line_and_writes_nothing(merchant):
    text = (
        "partner_id,email,first_name,link_value,customer_id,commission_id,commission_amount,commission_status\n"
        "part_1,kim@example.com,Kim,kim,cus_TLdup00001,comm_1,100,approved\n"
        "part_1,kimberly@example.com,Kim,kim,,,,\n"  # the same partner with another email
        "part_2,lee@example.com,Lee,KIM,,,,\n"  # another partner with Kim's code
        "part_3,max@example.com,Max,max,cus_TLdup00001,,,\n"  # Kim's customer again
        "part_3,max@example.com,Max,max,,comm_1,100,approved\n"  # Kim's commission again
        "part_9,,,,,,,\n"  # an id never seen with an email
    )

    report = importers.import_rows(merchant, importers.read_csv("tolt", text))

    assert not report.applied
    assert [(p.line, p.message) for p in report.errors] == [
        (3, "the email 'kimberly@example.com' differs from 'kim@example.com' on line 2, for the same affiliate"),
        (4, "the code 'KIM' is also on line 2, for another affiliate"),
        (5, "the customer cus_TLdup00001 is also on line 2, for another affiliate"),
        (6, "the commission comm_1 is also on line 2"),
        (7, "the affiliate id part_9 has no email here nor in an earlier import"),
    ]
    assert Affiliate.objects.count() == 0 and LegacyCode.objects.count() == 0


def test_lines_naming_an_affiliate_by_id_only_reach_one_imported_before(merchant):
    first = "partner_id,email,first_name,link_value\npart_1,kim@example.com,Kim,kim\n"
    assert importers.import_rows(merchant, importers.read_csv("tolt", first)).applied
    # A later export of customers and commissions names the partner by its id alone.
    later = (
        "partner_id,customer_id,commission_id,commission_amount,commission_currency,commission_status\n"
        "part_1,cus_TLlater001,comm_9,2500,eur,pending\n"
    )

    report = importers.import_rows(merchant, importers.read_csv("tolt", later))

    assert report.applied, report.errors
    kim = Affiliate.objects.for_merchant(merchant).get(email="kim@example.com")
    commission = kim.commissions.get()
    assert (commission.amount, commission.currency, commission.status) == (2500, "eur", "pending")
    assert commission.referral.stripe_customer_id == "cus_TLlater001" and commission.referral.affiliate == kim


def test_a_link_parameter_the_script_does_not_read_is_an_error(merchant):
    text = "partner_id,email,link_param,link_value\npart_1,kim@example.com,partner,kim\n"

    report = importers.import_rows(merchant, importers.read_csv("tolt", text), dry_run=True)

    assert [(p.line, p.message) for p in report.errors] == [
        (2, "links with ?partner= cannot be tracked here: the script reads ?ref=, ?via=, ?aff=, ?fpr=")
    ]
