"""Reads that the writes depend on, shared with the pages and with stripe_integration.

Below the services: it imports only models and the leaf helpers in afficone/.
"""

from django.db.models import F, Q, QuerySet

from afficone import rawsql
from tenants.models import Merchant

from .models import Affiliate, Commission, Referral


def payable_commissions(merchant: Merchant) -> QuerySet[Commission]:
    """Approved, in no payout, not held by a dispute, and still worth something."""
    return (
        Commission.objects.for_merchant(merchant)
        .filter(status=Commission.Status.APPROVED, payout=None, is_on_hold=False)
        .filter(~Q(reversed_amount=F("amount")))
    )


def referral_with_program(merchant_id: int, *, rid: str = "", stripe_customer_id: str = "") -> Referral | None:
    """The merchant's referral with this id (or linked to this Stripe customer), its affiliate and program loaded:
    what recording a commission reads. One join written once (afficone.rawsql.get_with_related): this runs for every
    payment, and compiling the ORM's select_related every time cost more than the round trip."""
    if bool(rid) == bool(stripe_customer_id):
        raise ValueError("Give exactly one of rid and stripe_customer_id.")
    key = {"rid": rid} if rid else {"stripe_customer_id": stripe_customer_id}
    return rawsql.get_with_related(Referral, "affiliate__program", merchant_id=merchant_id, **key)


def code_holder(merchant_id: int, code: str) -> Affiliate | None:
    """The merchant's affiliate whose links carry `code`, compared without case: as its code, or as a code its
    links had on the platform the merchant came from (LegacyCode). No two affiliates hold the same code."""
    affiliates = Affiliate.objects.for_merchant(merchant_id)
    return (
        affiliates.filter(code__iexact=code).first()
        or affiliates.filter(legacy_codes__code=code.lower(), legacy_codes__merchant_id=merchant_id).first()
    )
