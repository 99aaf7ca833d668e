"""Conversions: sales made outside Stripe, reported by the merchant's code through POST /api/v1/conversions.

A conversion is stored as the commission it earns, with source type
`conversion` and source id `conv_<the merchant's sale id>`. The prefix keeps
those ids apart from Stripe's (`pi_…`, `in_…`, `ch_…`), so a merchant's id
can never take the place of a Stripe payment's commission, and the unique
(merchant, source_id) constraint makes a sale earn at most once.
"""

from django.db import transaction

from affiliates.models import Commission, Referral
from affiliates.services import AffiliateError, apply_refund, record_commission, referral_by_reference
from tenants.models import Merchant

SOURCE_PREFIX = "conv_"


class ConversionError(AffiliateError):
    """A conversion or refund that cannot be recorded; `code` and `field` say why and where."""

    def __init__(self, message: str, *, code: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.field = field


def source_id_for(sale_id: str) -> str:
    return SOURCE_PREFIX + sale_id


def sale_id(commission: Commission) -> str:
    return commission.source_id.removeprefix(SOURCE_PREFIX)


def conversions(merchant: Merchant):
    return Commission.objects.for_merchant(merchant).filter(source_type=Commission.SourceType.CONVERSION)


def _names_same_referral(commission: Commission, reference: str) -> bool:
    reference = reference.strip()
    return (commission.referral is not None and commission.referral.rid == reference) or (
        commission.affiliate.code.lower() == reference.lower()
    )


def _existing(commission: Commission, *, sale: str, reference: str, amount: int) -> Commission:
    """The sale already recorded, if this request describes the same sale."""
    commission = Commission.objects.select_related("referral", "affiliate").get(pk=commission.pk)
    if commission.base_amount != amount or not _names_same_referral(commission, reference):
        raise ConversionError(
            f"The sale {sale} was already recorded with a different amount or referral.",
            code="conversion_mismatch",
            field="id",
        )
    return commission


@transaction.atomic
def record_conversion(
    merchant: Merchant, *, sale: str, reference: str, amount: int, currency: str, customer_email: str = ""
) -> tuple[Commission, bool]:
    """Records a sale and the commission it earns, once; returns (commission, created).

    `reference` is a referral id or an affiliate's code, `amount` the sale
    excluding tax in the currency's minor unit. The commission follows the
    same rules as a Stripe payment (record_commission): the program's rule or
    the affiliate's override, the recurring limit for a referral that has
    paid before, self-referrals flagged and voided.

    Idempotency key: (merchant, `conv_` + sale). The same sale reported again
    returns the first commission unchanged; reported with another amount or
    referral it is refused, since it cannot be both. A sale that would earn
    nothing (affiliate not approved, outside the recurring limit) is refused
    and nothing is stored.
    """
    source_id = source_id_for(sale)
    currency = currency.lower()
    existing = conversions(merchant).select_related("referral", "affiliate").filter(source_id=source_id).first()
    if existing is not None:
        return _existing(existing, sale=sale, reference=reference, amount=amount), False
    referral = referral_by_reference(merchant, reference)
    if referral is None:
        raise ConversionError(
            "No referral or affiliate code matches this reference.", code="unknown_referral", field="referral"
        )
    affiliate = referral.affiliate
    if not affiliate.is_approved:
        raise ConversionError(
            f"The affiliate {affiliate.code} is {affiliate.status}, so the sale earns no commission.",
            code="affiliate_not_approved",
            field="referral",
        )
    if customer_email:
        Referral.objects.filter(pk=referral.pk, customer_email="").update(customer_email=customer_email.lower())
    commission, created = record_commission(
        referral,
        source_type=Commission.SourceType.CONVERSION,
        source_id=source_id,
        base_amount=amount,
        currency=currency,
        customer_email=customer_email,
        is_recurring=referral.first_payment_at is not None,
    )
    if commission is None:
        raise ConversionError(
            "This referral's customer paid before and the program's recurring limit has passed, "
            "so the sale earns no commission.",
            code="outside_recurring_limit",
            field="referral",
        )
    if not created:
        # A concurrent request recorded this sale first (record_commission returned its row): drop what this
        # one wrote (a fresh referral for a code) and answer as a repeat.
        existing = _existing(commission, sale=sale, reference=reference, amount=amount)
        transaction.set_rollback(True)
        return existing, False
    return commission, True


@transaction.atomic
def refund_conversion(commission: Commission, *, amount: int | None = None) -> Commission:
    """Refunds `amount` more of the sale (the rest when None); the commission shrinks in proportion.

    Refunds add up: two partial refunds of 30 on a sale of 100 leave 40 to
    refund. The row is locked, so concurrent refunds cannot both count the
    same remainder; a refund beyond the sale is refused.
    """
    commission = Commission.objects.select_for_update().get(pk=commission.pk)
    remaining = commission.revenue_amount
    if remaining <= 0:
        raise ConversionError(f"The sale {sale_id(commission)} is already refunded in full.", code="already_refunded")
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise ConversionError(
            f"Only {remaining} of the sale is left to refund (in minor units).",
            code="refund_exceeds_sale",
            field="amount",
        )
    return apply_refund(commission, refunded_amount=commission.refunded_amount + amount)
