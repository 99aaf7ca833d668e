"""Writing a planned import: affiliates, their platform ids and old codes, referred customers, commissions.

Called by `import_rows` inside its transaction, with the report of a plan that has no errors. Nobody is emailed:
the affiliates and their commissions are not new to them. The domain's signals (affiliates/signals.py) are sent for
every row written, once the transaction commits, as for rows written any other way.
"""

from datetime import datetime, timedelta

from tenants.models import Merchant

from ..models import (
    Affiliate,
    Commission,
    CommissionType,
    ImportedAffiliate,
    LegacyCode,
    Program,
    Referral,
    RuleSource,
)
from ..services.affiliates import suggest_code
from ..signals import affiliate_created, affiliate_updated, commission_created, referral_created, send_on_commit
from .plan import AffiliatePlan, ImportReport

BATCH = 1000


def write_import(merchant: Merchant, report: ImportReport, *, program: Program, now: datetime) -> None:
    platform = report.platform.key
    new = [plan for plan in report.affiliates if plan.is_new]
    # Those with a code of their own first, so that no code derived from a name takes one the file gives.
    Affiliate.objects.bulk_create([_affiliate(merchant, p, program, now) for p in new if p.code], batch_size=BATCH)
    for plan in new:
        if not plan.code:
            plan.code = suggest_code(merchant, plan.name or plan.email)
            plan.affiliate = Affiliate.objects.create(**_affiliate_fields(merchant, plan, program, now))
    updated = []
    for plan in report.affiliates:
        if plan.existing is not None:
            plan.affiliate = plan.existing
            if plan.fills:
                Affiliate.objects.filter(pk=plan.existing.pk).update(**plan.fills)
                updated.append(plan.existing.pk)
    ImportedAffiliate.objects.bulk_create(
        [
            ImportedAffiliate(merchant=merchant, affiliate=p.affiliate, platform=platform, external_id=p.external_id)
            for p in report.affiliates
            if p.external_id and (p.is_new or p.records_id)
        ],
        batch_size=BATCH,
    )
    LegacyCode.objects.bulk_create(
        [
            LegacyCode(merchant=merchant, affiliate=p.affiliate, code=code, platform=platform)
            for p in report.affiliates
            for code in p.legacy_codes
        ],
        batch_size=BATCH,
    )
    referrals = _referrals(merchant, report, now)
    commissions = _commissions(merchant, report, referrals, program, now)
    send_on_commit(affiliate_created, Affiliate, [(merchant.pk, p.affiliate.pk) for p in new if p.affiliate])
    send_on_commit(affiliate_updated, Affiliate, [(merchant.pk, pk) for pk in updated])
    send_on_commit(referral_created, Referral, [(merchant.pk, r.pk) for r in referrals.values()])
    send_on_commit(commission_created, Commission, [(merchant.pk, c.pk) for c in commissions])


def _affiliate_fields(merchant: Merchant, plan: AffiliatePlan, program: Program, now: datetime) -> dict:
    return {
        "merchant": merchant,
        "program": program,
        "email": plan.email,
        "name": plan.name,
        "code": plan.code,
        "status": plan.status,
        "paypal_email": plan.paypal_email,
        "payout_method": Affiliate.PayoutMethod.PAYPAL,
        "approved_at": now if plan.status == Affiliate.Status.APPROVED else None,
    }


def _affiliate(merchant: Merchant, plan: AffiliatePlan, program: Program, now: datetime) -> Affiliate:
    plan.affiliate = Affiliate(**_affiliate_fields(merchant, plan, program, now))
    return plan.affiliate


def _referrals(merchant: Merchant, report: ImportReport, now: datetime) -> dict[str, Referral]:
    """The referred customers, bound for good (DESIGN.md, "Attribution beyond the cookie") as manual referrals."""
    referrals = {
        plan.customer: Referral(
            merchant=merchant,
            affiliate=plan.owner.affiliate,
            stripe_customer_id=plan.customer,
            customer_email=plan.customer_email,
            source=Referral.Source.MANUAL,
            converted_at=now,
        )
        for plan in report.referrals
    }
    Referral.objects.bulk_create(list(referrals.values()), batch_size=BATCH)
    return referrals


def _commissions(
    merchant: Merchant, report: ImportReport, referrals: dict[str, Referral], program: Program, now: datetime
) -> list[Commission]:
    """Unpaid commissions as they stood there: their amount is the rule ("imported:fixed:<amount>"); an approved one
    is payable in the next payout, a pending one is approved at its due date (or after the program's hold)."""
    existing = {
        r.stripe_customer_id: r
        for r in Referral.objects.for_merchant(merchant).filter(
            stripe_customer_id__in={p.customer for p in report.commissions if p.customer} - set(referrals)
        )
    }
    hold = timedelta(days=program.hold_days)
    commissions = []
    for plan in report.commissions:
        item = plan.commission
        approved = item.status == Commission.Status.APPROVED
        commissions.append(
            Commission(
                merchant=merchant,
                affiliate=plan.owner.affiliate,
                referral=referrals.get(plan.customer) or existing.get(plan.customer),
                status=item.status,
                amount=item.amount,
                currency=plan.currency,
                base_amount=item.sale_amount,
                source_type=Commission.SourceType.IMPORT,
                source_id=plan.source_id,
                rule_source=RuleSource.IMPORTED,
                rule_type=CommissionType.FIXED,
                rule_amount=item.amount,
                hold_until=now if approved else (item.due_at or now + hold),
                approved_at=now if approved else None,
            )
        )
    Commission.objects.bulk_create(commissions, batch_size=BATCH)
    # Dated when they were earned there (created_at is set on insert): the rollups' trigger marks those days.
    dated = []
    for commission, plan in zip(commissions, report.commissions, strict=True):
        if plan.commission.earned_at is not None and plan.commission.earned_at < now:
            commission.created_at = plan.commission.earned_at
            dated.append(commission)
    Commission.objects.bulk_update(dated, ["created_at"], batch_size=BATCH)
    return commissions
