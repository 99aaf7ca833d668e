"""Subscription invoices: invoice.paid, invoice.payment_succeeded and invoice_payment.paid."""

from __future__ import annotations

from affiliates.models import Commission
from affiliates.queries import referral_with_program
from tenants.models import Merchant

from ...models import StripeEvent
from ..links import _record, link_commission_payment
from ..payload import _event_time, _id, _timestamp, invoice_subscription, invoice_tax
from ..promotion_codes import bind_by_promotion_code, has_discounts
from ..waiting import WaitFor, lock_keys, wake_waiting
from .registry import handles


@handles("invoice.paid", "invoice.payment_succeeded", may_wait=True)
def handle_invoice_paid(merchant: Merchant, invoice: dict, event: StripeEvent) -> None:
    """invoice.paid and invoice.payment_succeeded: one commission per invoice (source = the invoice id).

    $0 invoices (trials) earn nothing. Waits for the customer's link when it has not arrived yet, unless the invoice
    used a promotion code assigned to an affiliate, which binds the customer (a $0 invoice's too: the binding is
    kept). The first invoice of a subscription is not recurring; later ones are, within the program's recurring limit.
    """
    amount_paid = int(invoice.get("amount_paid") or 0)
    if amount_paid <= 0 and not has_discounts(invoice):
        return
    subscription_id = invoice_subscription(invoice)
    if not subscription_id:
        # A one-off invoice, e.g. the one Checkout issues after a payment when "create an invoice" is on: that payment
        # is attributed through its Checkout Session or PaymentIntent. Invoices earn as subscription payments only.
        return
    customer_id = _id(invoice.get("customer"))
    if not customer_id:
        return
    lock_keys(merchant.pk, customer_id)
    referral = referral_with_program(merchant.pk, stripe_customer_id=customer_id)
    if referral is None:
        referral = bind_by_promotion_code(
            merchant,
            invoice,
            customer_id=customer_id,
            subscription_id=subscription_id,
            email=invoice.get("customer_email") or "",
        )
    if amount_paid <= 0:
        return
    if referral is None:
        raise WaitFor(customer_id)
    invoice_id = _id(invoice)
    _record(
        merchant,
        referral,
        source_type=Commission.SourceType.INVOICE,
        source_id=invoice_id,
        base_amount=amount_paid - invoice_tax(invoice),
        currency=invoice.get("currency") or "usd",
        paid_at=_timestamp((invoice.get("status_transitions") or {}).get("paid_at"), _event_time(event)),
        customer_email=invoice.get("customer_email") or referral.customer_email,
        is_recurring=invoice.get("billing_reason") != "subscription_create",
        stripe_invoice_id=invoice_id,
        # Older API versions name the payment on the invoice; newer ones in invoice_payment objects (below).
        stripe_payment_intent_id=_id(invoice.get("payment_intent")),
        stripe_charge_id=_id(invoice.get("charge")),
    )


@handles("invoice_payment.paid", may_wait=True)
def handle_invoice_payment_paid(merchant: Merchant, invoice_payment: dict, event: StripeEvent) -> None:
    """invoice_payment.paid (API 2025-03-31 and later): tells which PaymentIntent paid an invoice, so the invoice's
    commission can be found by later refunds and disputes, which only name the charge and PaymentIntent."""
    invoice_id = _id(invoice_payment.get("invoice"))
    payment = invoice_payment.get("payment") or {}
    payment_intent, charge = _id(payment.get("payment_intent")), _id(payment.get("charge"))
    if not invoice_id or not (payment_intent or charge):
        return
    lock_keys(merchant.pk, invoice_id, payment_intent, charge)
    commission = Commission.objects.for_merchant(merchant).filter(source_id=invoice_id).first()
    if commission is None:
        raise WaitFor(invoice_id)
    link_commission_payment(commission, payment_intent=payment_intent, charge=charge)
    wake_waiting(merchant.pk, payment_intent, charge)
