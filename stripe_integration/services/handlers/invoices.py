"""Subscription invoices: invoice.paid, invoice.payment_succeeded and invoice_payment.paid."""

from __future__ import annotations

from affiliates.models import Commission
from affiliates.queries import referral_with_program
from tenants.models import Merchant

from ...lines import invoice_lines
from ...models import StripeEvent
from ..leads import bind_by_lead
from ..links import link_commission_payment, record_and_wake
from ..payload import StripeData, event_time, invoice_subscription, invoice_tax
from ..promotion_codes import bind_by_promotion_code, has_discounts
from ..waiting import WaitFor, lock_keys, wake_waiting
from .registry import handles


@handles("invoice.paid", "invoice.payment_succeeded", may_wait=True)
def handle_invoice_paid(merchant: Merchant, invoice: StripeData, event: StripeEvent) -> None:
    """invoice.paid and invoice.payment_succeeded: one commission per invoice (source = the invoice id).

    $0 invoices (trials) earn nothing. Waits for the customer's link when it has not arrived yet, unless the invoice
    used a promotion code assigned to an affiliate, which binds the customer (a $0 invoice's too: the binding is
    kept), or a lead for its customer's email. The first invoice of a subscription is not recurring; later ones are,
    within the program's recurring limit.
    """
    amount_paid = invoice.amount("amount_paid")
    if amount_paid <= 0 and not has_discounts(invoice):
        return
    subscription_id = invoice_subscription(invoice)
    if not subscription_id:
        # A one-off invoice, e.g. the one Checkout issues after a payment when "create an invoice" is on: that payment
        # is attributed through its Checkout Session or PaymentIntent. Invoices earn as subscription payments only.
        return
    customer_id = invoice.id("customer")
    if not customer_id:
        return
    # Everything read before it may wait: an invoice Afficone cannot read fails now, not once its customer is linked.
    invoice_id = invoice.string("id")
    payment = dict(
        source_type=Commission.SourceType.INVOICE,
        source_id=invoice_id,
        base_amount=amount_paid - invoice_tax(invoice),
        currency=invoice.string("currency") or "usd",
        paid_at=invoice.object("status_transitions").timestamp("paid_at") or event_time(event),
        is_recurring=invoice.string("billing_reason") != "subscription_create",
        stripe_invoice_id=invoice_id,
        lines=invoice_lines(invoice),
        # Older API versions name the payment on the invoice; newer ones in invoice_payment objects (below).
        stripe_payment_intent_id=invoice.id("payment_intent"),
        stripe_charge_id=invoice.id("charge"),
    )
    email = invoice.string("customer_email")
    lock_keys(merchant.pk, customer_id)
    referral = referral_with_program(merchant.pk, stripe_customer_id=customer_id)
    if referral is None:
        referral = bind_by_promotion_code(
            merchant,
            invoice,
            customer_id=customer_id,
            subscription_id=subscription_id,
            email=email,
        )
    if referral is None:
        referral = bind_by_lead(merchant, customer_id=customer_id, email=email)
    if amount_paid <= 0:
        return
    if referral is None:
        raise WaitFor(customer_id)
    record_and_wake(merchant, referral, customer_email=email or referral.customer_email, **payment)


@handles("invoice_payment.paid", may_wait=True)
def handle_invoice_payment_paid(merchant: Merchant, invoice_payment: StripeData, event: StripeEvent) -> None:
    """invoice_payment.paid (API 2025-03-31 and later): tells which PaymentIntent paid an invoice, so the invoice's
    commission can be found by later refunds and disputes, which only name the charge and PaymentIntent."""
    invoice_id = invoice_payment.id("invoice")
    payment = invoice_payment.object("payment")
    payment_intent, charge = payment.id("payment_intent"), payment.id("charge")
    if not invoice_id or not (payment_intent or charge):
        return
    lock_keys(merchant.pk, invoice_id, payment_intent, charge)
    commission = Commission.objects.for_merchant(merchant).filter(source_id=invoice_id).first()
    if commission is None:
        raise WaitFor(invoice_id)
    link_commission_payment(commission, payment_intent=payment_intent, charge=charge)
    wake_waiting(merchant.pk, payment_intent, charge)
