"""Importing affiliates from Rewardful, FirstPromoter and Tolt (README, "Importing from Rewardful, FirstPromoter and
Tolt"): the one place that does it; `manage.py import_affiliates` and the dashboard's Affiliates → Import page only
call `read_csv` and `import_rows`.

Each platform module maps its export's columns onto one common row (rows.ImportRow); plan.py matches the rows with
the merchant's data and says what would change; write.py writes it.

All or nothing: an import is one transaction, written only when no line has an error, so a file with bad lines
writes nothing and its report names every bad line with its number. Idempotent: affiliates are found again by the
platform's id for them (ImportedAffiliate) or their email, referred customers by their Stripe id (bound once per
merchant), commissions by their source id (the platform and its commission id), so importing the same file again
writes nothing new.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import Merchant

from ..services.affiliates import default_program
from . import firstpromoter, rewardful, tolt
from .parse import ImportFileError, decode, read_rows
from .plan import AffiliatePlan, CommissionPlan, ImportReport, ReferralPlan, plan_import
from .rows import Parsed, Platform, Problem
from .write import write_import

__all__ = [
    "PLATFORMS",
    "AffiliatePlan",
    "CommissionPlan",
    "ImportFileError",
    "ImportReport",
    "Parsed",
    "Platform",
    "Problem",
    "ReferralPlan",
    "import_rows",
    "read_csv",
]

PLATFORMS: dict[str, Platform] = {p.key: p for p in (rewardful.PLATFORM, firstpromoter.PLATFORM, tolt.PLATFORM)}


def read_csv(platform: str, data: bytes | str) -> Parsed:
    """The platform's CSV export, read into rows (nothing is looked up yet). Raises ImportFileError for a file that
    cannot be read at all (not UTF-8, too large) and KeyError for an unknown platform."""
    text = decode(data) if isinstance(data, bytes) else data
    return read_rows(PLATFORMS[platform], text)


def import_rows(merchant: Merchant, parsed: Parsed, *, dry_run: bool = False) -> ImportReport:
    """Imports `parsed` for `merchant`, or with `dry_run` says what importing would change and writes nothing.

    Writes only when the report has no error, in one transaction that holds the merchant's row, so two imports for
    the same merchant run one after the other and the second plans against what the first wrote. Idempotency keys:
    ImportedAffiliate (merchant, platform, external_id), Affiliate (merchant, lower(email)), Referral (merchant,
    stripe_customer_id), Commission (merchant, source_id).
    """
    program = default_program(merchant)
    if dry_run:
        return plan_import(merchant, parsed, currency=program.commission_currency, dry_run=True)
    try:
        with transaction.atomic():
            Merchant.objects.select_for_update().filter(pk=merchant.pk).first()
            report = plan_import(merchant, parsed, currency=program.commission_currency, dry_run=False)
            if report.errors or not report.has_changes:
                return report
            write_import(merchant, report, program=program, now=timezone.now())
            report.applied = True
    except IntegrityError:
        # A code or email taken (a signup, the API) between the plan and the write: all of it is rolled back.
        report.applied = False
        report.errors.append(Problem(0, RACED))
    return report


RACED = "An affiliate was added or changed while this ran, so nothing was imported: import the file again."
