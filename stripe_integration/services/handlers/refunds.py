"""Refunds and disputes: charge.refunded, charge.dispute.created and charge.dispute.closed."""

from __future__ import annotations

from affiliates import money
from affiliates.models import Commission, Referral
from affiliates.services import apply_refund, hold_commission, settle_dispute
from tenants.models import Merchant

from ...client import stripe_client
from ...models import StripeEvent
from ..links import find_commission, link_commission_payment
from ..payload import StripeData
from ..waiting import WaitFor, lock_keys
from .registry import handles


def _commission_for_charge(merchant: Merchant, *, charge: str, payment_intent: str, invoice: str = "") -> Commission:
    lock_keys(merchant.pk, charge, payment_intent, invoice)
    commission = find_commission(merchant, payment_intent=payment_intent, charge=charge, invoice=invoice)
    if commission is None:
        raise WaitFor(invoice or payment_intent or charge)  # the id the commission will be written under
    return commission


def invoice_paid_by(merchant: Merchant, payment_intent: str) -> str:
    """Asks Stripe which invoice `payment_intent` paid ("" if none): on API versions 2025-03-31 and later neither
    the invoice nor the charge names the other, and invoice_payment.paid may not be among the endpoint's events."""
    payments = stripe_client().v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": payment_intent}, "limit": 1},
        options={"stripe_account": merchant.stripe_account_id},
    )
    return next((StripeData(payment.to_dict(), "invoice_payment").id("invoice") for payment in payments.data), "")


@handles("charge.refunded", may_wait=True)
def handle_charge_refunded(merchant: Merchant, charge: StripeData, event: StripeEvent) -> None:
    """Reverses the commission in proportion to the charge's cumulative `amount_refunded` (so refund events in any
    order, or repeated, end at the same reversal). The charge's amount includes tax, the commission's base does not,
    so the refunded share is taken of the charge and applied to the base.

    A refund of a referred customer's payment that matches no commission asks Stripe which invoice its PaymentIntent
    paid (one API call, only for referred customers) rather than waiting for invoice_payment.paid.
    """
    charge_id, payment_intent, invoice = charge.string("id"), charge.id("payment_intent"), charge.id("invoice")
    customer_id = charge.id("customer")
    charge_amount, refunded = charge.amount("amount"), charge.amount("amount_refunded")
    if (
        payment_intent
        and not invoice
        and customer_id
        and find_commission(merchant, payment_intent=payment_intent, charge=charge_id) is None
        and Referral.objects.for_merchant(merchant).filter(stripe_customer_id=customer_id).exists()
    ):
        invoice = invoice_paid_by(merchant, payment_intent)
    commission = _commission_for_charge(merchant, charge=charge_id, payment_intent=payment_intent, invoice=invoice)
    if invoice and commission.source_id == invoice:
        link_commission_payment(commission, payment_intent=payment_intent, charge=charge_id)
    if charge_amount <= 0 or refunded <= 0:
        return
    refunded_of_base = (
        commission.base_amount
        if refunded >= charge_amount
        else money.proportion(commission.base_amount, refunded, charge_amount)
    )
    apply_refund(commission, refunded_amount=refunded_of_base)


def _dispute_closed_already(merchant: Merchant, dispute_id: str) -> bool:
    return (
        StripeEvent.objects.for_merchant(merchant)
        .filter(type="charge.dispute.closed", status=StripeEvent.Status.PROCESSED, payload__data__object__id=dispute_id)
        .exists()
    )


@handles("charge.dispute.created", may_wait=True)
def handle_dispute_created(merchant: Merchant, dispute: StripeData, event: StripeEvent) -> None:
    """Holds the commission while the dispute is open (unless its closing has already been processed)."""
    dispute_id = dispute.string("id")
    lock_keys(merchant.pk, dispute_id)
    commission = _commission_for_charge(
        merchant, charge=dispute.id("charge"), payment_intent=dispute.id("payment_intent")
    )
    if _dispute_closed_already(merchant, dispute_id):
        return
    hold_commission(commission)


@handles("charge.dispute.closed", may_wait=True)
def handle_dispute_closed(merchant: Merchant, dispute: StripeData, event: StripeEvent) -> None:
    """Lost: the commission is reversed in full. Won (or a closed inquiry): released."""
    lost = dispute.string("status") == "lost"
    lock_keys(merchant.pk, dispute.string("id"))
    commission = _commission_for_charge(
        merchant, charge=dispute.id("charge"), payment_intent=dispute.id("payment_intent")
    )
    settle_dispute(commission, won=not lost)
