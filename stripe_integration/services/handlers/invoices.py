"""Subscription invoices: invoice.paid, invoice.payment_succeeded and invoice_payment.paid."""

from __future__ import annotations

from datetime import datetime

from affiliates.models import Commission
from affiliates.queries import referral_with_program
from tenants.models import Merchant

from ...client import stripe_client
from ...lines import invoice_lines
from ...models import StripeEvent
from ..exclusions import (
    ZERO_DISCOUNTED_INVOICE,
    ZERO_INVOICE,
    every_line_excluded,
    exclude_products,
    invoice_exclusion,
    products_outcome,
)
from ..leads import bind_by_lead
from ..links import find_commission, link_commission_payment, open_recurring_window, record_and_wake
from ..lookups import stripe_options
from ..payload import StripeData, event_time, invoice_subscription, invoice_tax
from ..promotion_codes import bind_by_promotion_code, has_discounts
from ..waiting import WaitFor, lock_keys, wake_waiting
from .registry import handles


@handles("invoice.paid", "invoice.payment_succeeded", may_wait=True)
def handle_invoice_paid(merchant: Merchant, invoice: StripeData, event: StripeEvent) -> str | None:
    """invoice.paid and invoice.payment_succeeded: one commission per invoice (source = the invoice id).

    $0 invoices (trials, 100%-off discounts) earn nothing. Waits for the customer's link when it has not arrived yet,
    unless the invoice used a promotion code assigned to an affiliate, which binds the customer (a $0 invoice's too:
    the binding is kept), or a lead for its customer's email. An invoice, subscription, customer or product the
    merchant excluded earns nothing (services/exclusions.py; the outcome says which). The recurring window opens at
    the subscription's first paid invoice: that one is the customer's first payment, later ones are recurring, within
    the program's limit.
    """
    amount_paid = invoice.amount("amount_paid")
    if amount_paid <= 0 and not has_discounts(invoice):
        return ZERO_INVOICE
    subscription_id = invoice_subscription(invoice)
    if not subscription_id:
        # A one-off invoice, e.g. the one Checkout issues after a payment when "create an invoice" is on: that payment
        # is attributed through its Checkout Session or PaymentIntent. Invoices earn as subscription payments only.
        return None
    customer_id = invoice.id("customer")
    if not customer_id:
        return None
    # Everything read before it may wait: an invoice Afficone cannot read fails now, not once its customer is linked.
    invoice_id = invoice.string("id")
    paid_at = invoice.object("status_transitions").timestamp("paid_at") or event_time(event)
    is_recurring = invoice.string("billing_reason") != "subscription_create"
    lines = invoice_lines(invoice)
    payment = dict(
        source_type=Commission.SourceType.INVOICE,
        source_id=invoice_id,
        base_amount=amount_paid - invoice_tax(invoice),
        currency=invoice.string("currency") or "usd",
        paid_at=paid_at,
        stripe_invoice_id=invoice_id,
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
        return ZERO_DISCOUNTED_INVOICE
    if referral is None:
        raise WaitFor(customer_id)
    outcome = ""
    if find_commission(merchant, invoice=invoice_id) is None:  # else recorded before: nothing to decide or read
        excluded = invoice_exclusion(merchant, invoice)
        if excluded:
            return excluded
        lines, products = exclude_products(merchant, lines)
        if products:
            outcome = products_outcome(lines, products)
            if every_line_excluded(lines):
                return outcome
        window = referral.first_payment_at
        if is_recurring and (window is None or paid_at <= window):
            # It may be the first paid invoice after a trial's $0 ones: the recurring window opens there.
            first = _first_paid_invoice(merchant, subscription_id)
            if first is not None:
                open_recurring_window(referral, at=first[1])
                is_recurring = first[0] != invoice_id
    record_and_wake(
        merchant,
        referral,
        customer_email=email or referral.customer_email,
        is_recurring=is_recurring,
        lines=lines,
        **payment,
    )
    return outcome


def _first_paid_invoice(merchant: Merchant, subscription_id: str) -> tuple[str, datetime] | None:
    """The subscription's first invoice that paid more than $0 (after a trial's $0 ones), as (its id, when it was
    paid), read from Stripe (GET /v1/invoices?subscription=&status=paid); None where Stripe lists none.

    Asked only for an invoice that is not its subscription's first (`billing_reason`) and was paid before the
    referral's recurring window opened, or with no window yet: the window opens at the first paid invoice, and that
    one is the customer's first payment, not a recurring one, whichever of the subscription's invoices arrives
    first."""
    listing = stripe_client().v1.invoices.list(
        params={"subscription": subscription_id, "status": "paid", "limit": 100}, options=stripe_options(merchant)
    )
    paid = []
    for item in listing.auto_paging_iter():
        invoice = StripeData(item.to_dict(), "invoice")
        moment = invoice.object("status_transitions").timestamp("paid_at") or invoice.timestamp("created")
        if invoice.amount("amount_paid") > 0 and moment is not None:
            paid.append((moment, invoice.string("id")))
    if not paid:
        return None
    moment, invoice_id = min(paid)
    return invoice_id, moment


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
