"""Manual attribution (DESIGN.md, "Attribution beyond the cookie", item 5): the merchant binds an existing Stripe
customer to an affiliate, and the customer's past payments that the program's rules still cover are credited.

`bind_customer` writes the binding (a referral with source `manual` or `api`) and its `CustomerBackfill`, and wakes
the customer's events parked until a binding. `backfill_customer` (a Celery task, stripe_integration/tasks.py) reads
the customer's paid invoices and charges from Stripe's API and credits each payment exactly as the webhook would
have: the same source ids (a subscription invoice by its `in_` id, a one-off payment by its PaymentIntent, a charge
without one by its `ch_` id) through the same `record_commission`, so a later webhook for the same payment adds
nothing, and a payment that already earned (for anyone) is left as it is. The recurring window opens at the first
paid payment; the cookie window does not apply (nobody clicked). Payments the merchant excluded (metadata
`afficone: "false"` on the customer, the invoice, its subscription, the charge, or a line's product: the same test
as the webhook's, services/exclusions.py) earn nothing. Running it again credits nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stripe
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from affiliates import money
from affiliates.models import NET_AMOUNT, Affiliate, Commission, Referral
from affiliates.rules import Line
from affiliates.services import apply_refund, create_referral
from tenants.models import Merchant

from ..client import stripe_client
from ..lines import invoice_lines
from ..models import CustomerBackfill
from .exclusions import customer_exclusion, every_line_excluded, exclude_products, invoice_carried_exclusion, opted_out
from .handlers.refunds import invoice_paid_by
from .links import find_commission, link_commission_payment, open_recurring_window, record_and_wake
from .lookups import AttributionError, require_connected, stripe_options, stripe_unavailable
from .payload import StripeData, checkout_amount_excluding_tax, invoice_subscription, invoice_tax
from .waiting import lock_keys, wake_waiting

FIELD = "customer"
MAX_MATCHES = 10


# --- finding and binding a customer ---------------------------------------------------------------------------------


def find_customers(merchant: Merchant, query: str) -> list[dict]:
    """The merchant's Stripe customers a dashboard search names: a `cus_` id, or an email (exact, then Stripe's
    search, which ignores case). Deleted customers are left out."""
    query = (query or "").strip()
    if not query:
        return []
    require_connected(merchant, field=FIELD)
    customers = stripe_client().v1.customers
    options = stripe_options(merchant)
    try:
        if query.startswith("cus_"):
            found = [customers.retrieve(query, options=options).to_dict()]
        else:
            found = [
                c.to_dict() for c in customers.list(params={"email": query, "limit": MAX_MATCHES}, options=options)
            ]
            if not found and "'" not in query:
                search = customers.search(params={"query": f"email:'{query}'", "limit": MAX_MATCHES}, options=options)
                found = [c.to_dict() for c in search.data]
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return []
        raise stripe_unavailable(exc, field=FIELD) from None
    except stripe.StripeError as exc:
        raise stripe_unavailable(exc, field=FIELD) from None
    return [c for c in found if not c.get("deleted")]


def bind_customer(merchant: Merchant, *, affiliate: Affiliate, customer_id: str, source: str) -> Referral:
    """Binds the merchant's Stripe customer `customer_id` to `affiliate` with a new referral of `source` (`manual`,
    `api`) and its pending CustomerBackfill; the caller gets the backfill run once this commits.

    Refused, changing nothing: a customer Stripe does not know (400), a customer already bound to a referral (409,
    whoever holds it: the binding is permanent), an affiliate who is not approved (409). Events parked until this
    customer was bound (its invoices) are woken.
    """
    require_connected(merchant, field=FIELD)
    if not affiliate.is_approved:
        raise AttributionError(
            f"{affiliate} is {affiliate.status}: only approved affiliates earn, so no customer can be attributed.",
            code="affiliate_not_approved",
            field="affiliate",
        )
    customer = _customer(merchant, customer_id)
    already = AttributionError(
        f"The customer {customer_id} is already attributed to an affiliate; a customer's attribution is permanent.",
        code="customer_already_attributed",
        field=FIELD,
    )
    try:
        with transaction.atomic():
            lock_keys(merchant.pk, customer_id)
            if Referral.objects.for_merchant(merchant).filter(stripe_customer_id=customer_id).exists():
                raise already
            referral = create_referral(
                affiliate,
                source=source,
                stripe_customer_id=customer_id,
                customer_email=(customer.get("email") or "")[:254],
                converted_at=timezone.now(),
            )
            CustomerBackfill.objects.create(merchant=merchant, referral=referral)
            wake_waiting(merchant.pk, customer_id)
    except IntegrityError:  # bound by a webhook between our check and our insert (SQLite: no advisory locks)
        raise already from None
    return referral


def _customer(merchant: Merchant, customer_id: str) -> dict:
    unknown = AttributionError(
        f"Your Stripe account has no customer {customer_id}.", code="unknown_customer", field=FIELD, status=400
    )
    if not customer_id.startswith("cus_"):
        raise unknown
    try:
        customer = stripe_client().v1.customers.retrieve(customer_id, options=stripe_options(merchant)).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise unknown from None
        raise stripe_unavailable(exc, field=FIELD) from None
    except stripe.StripeError as exc:
        raise stripe_unavailable(exc, field=FIELD) from None
    if customer.get("deleted"):
        raise unknown
    return customer


# --- reading past payments ------------------------------------------------------------------------------------------


@dataclass
class Payment:
    """A past payment as the webhook would have recorded it."""

    source_type: str
    source_id: str
    base_amount: int
    currency: str
    paid_at: datetime
    email: str
    payment_intent: str = ""
    charge: str = ""
    invoice: str = ""
    # Subscription invoices: not the subscription's first (billing_reason). One-off payments: None, decided by date.
    is_recurring: bool | None = None
    # The charge's cumulative refunds, for the share of the commission they take back.
    charge_amount: int = 0
    refunded: int = 0
    # An invoice's lines, for the program's per-line rules (those of excluded products marked), as the webhook reads.
    lines: list[Line] = field(default_factory=list)


def _all(listing: Any, path: str) -> list[StripeData]:
    """Every page of a Stripe list (has_more / starting_after), each object read as an event's would be."""
    return [StripeData(item.to_dict(), path) for item in listing.auto_paging_iter()]


def past_payments(merchant: Merchant, customer_id: str) -> list[Payment]:
    """The customer's paid payments, read from Stripe, oldest first: subscription invoices (GET /v1/invoices, status
    paid) and the charges that paid no subscription invoice (GET /v1/charges), priced as the webhook prices them.
    An object of a shape Afficone cannot read raises ValueError naming the field (payload.py)."""
    if customer_exclusion(merchant, customer_id):
        return []  # the merchant excluded the customer (metadata afficone: false): none of its payments earn
    client = stripe_client()
    options = stripe_options(merchant)
    invoices = [
        invoice
        for invoice in _all(
            client.v1.invoices.list(params={"customer": customer_id, "status": "paid", "limit": 100}, options=options),
            "invoice",
        )
        if invoice_subscription(invoice)
        and invoice.amount("amount_paid") > 0
        and not invoice_carried_exclusion(invoice)
    ]
    by_id: dict[str, Payment] = {}
    paid_by: dict[str, str] = {}  # PaymentIntent or charge id -> the subscription invoice it paid (older API versions)
    for invoice in invoices:
        invoice_id = invoice.string("id")
        lines, products = exclude_products(merchant, invoice_lines(invoice))
        if products and every_line_excluded(lines):
            continue  # every line is of a product the merchant excluded
        payment = Payment(
            source_type=Commission.SourceType.INVOICE,
            source_id=invoice_id,
            base_amount=invoice.amount("amount_paid") - invoice_tax(invoice),
            currency=invoice.string("currency") or "usd",
            paid_at=invoice.object("status_transitions").timestamp("paid_at")
            or invoice.timestamp("created")
            or timezone.now(),
            email=invoice.string("customer_email"),
            payment_intent=invoice.id("payment_intent"),
            charge=invoice.id("charge"),
            invoice=invoice_id,
            is_recurring=invoice.string("billing_reason") != "subscription_create",
            lines=lines,
        )
        by_id[payment.invoice] = payment
        for paid_with in (payment.payment_intent, payment.charge):
            if paid_with:
                paid_by[paid_with] = payment.invoice
    charges = [
        c
        for c in _all(client.v1.charges.list(params={"customer": customer_id, "limit": 100}, options=options), "charge")
        if c.string("status") == "succeeded" and c.data.get("captured", True) is not False and not opted_out(c)
    ]
    sessions: dict[str, StripeData] = {}
    if any(c.id("payment_intent") for c in charges):
        for paid in _all(
            client.v1.checkout.sessions.list(params={"customer": customer_id, "limit": 100}, options=options),
            "checkout.session",
        ):
            if paid.string("payment_status") == "paid" and paid.id("payment_intent"):
                sessions[paid.id("payment_intent")] = paid
    one_off: list[Payment] = []
    for c in charges:
        charge_id, intent = c.string("id"), c.id("payment_intent")
        invoice_id = c.id("invoice") or paid_by.get(intent) or paid_by.get(charge_id, "")
        if not invoice_id and intent and invoices and intent not in sessions:
            # API 2025-03-31 and later: neither names the other; the invoice payments know (one call a charge).
            invoice_id = invoice_paid_by(merchant, intent)
        if invoice_id in by_id:  # it paid a subscription invoice: credited as that invoice, its refunds applied there
            payment = by_id[invoice_id]
            payment.payment_intent = payment.payment_intent or intent
            payment.charge = payment.charge or charge_id
            payment.charge_amount, payment.refunded = c.amount("amount"), c.amount("amount_refunded")
            continue
        session = sessions.get(intent) if intent else None
        one_off.append(
            Payment(
                source_type=Commission.SourceType.PAYMENT_INTENT if intent else Commission.SourceType.CHARGE,
                source_id=intent or charge_id,
                base_amount=checkout_amount_excluding_tax(session) if session else c.amount("amount"),
                currency=c.string("currency") or "usd",
                paid_at=c.timestamp("created") or timezone.now(),
                email=c.object("billing_details").string("email") or c.string("receipt_email"),
                payment_intent=intent,
                charge=charge_id,
                charge_amount=c.amount("amount"),
                refunded=c.amount("amount_refunded"),
            )
        )
    return sorted([*by_id.values(), *one_off], key=lambda p: (p.paid_at, p.source_id))


# --- crediting ------------------------------------------------------------------------------------------------------


def backfill_customer(backfill: CustomerBackfill) -> CustomerBackfill:
    """Reads the bound customer's past payments from Stripe and credits them, once; records what they came to.

    Idempotency key: each payment's commission, unique per (merchant, source id). A payment that already earned a
    commission (by its invoice, PaymentIntent or charge) is never credited again, for this affiliate or another; a
    run again recounts the same payments and credits nothing new. Stripe's transient errors are raised (the task
    retries them); any other Stripe error marks the backfill failed, with the reason.
    """
    referral = Referral.objects.select_related("affiliate__program").get(pk=backfill.referral_id)
    merchant = Merchant.objects.get(pk=backfill.merchant_id)
    customer_id = referral.stripe_customer_id or ""
    try:
        require_connected(merchant, field=FIELD)
        payments = past_payments(merchant, customer_id)
    except (stripe.APIConnectionError, stripe.RateLimitError):
        raise
    except (stripe.StripeError, AttributionError, ValueError) as exc:
        message = exc.user_message if isinstance(exc, stripe.StripeError) else str(exc)
        CustomerBackfill.objects.filter(pk=backfill.pk).update(
            status=CustomerBackfill.Status.FAILED, error=str(message or exc)[:2000], finished_at=timezone.now()
        )
        backfill.refresh_from_db()
        return backfill
    with transaction.atomic():
        lock_keys(merchant.pk, customer_id)
        if payments:
            # The recurring window opens at the first paid payment, whichever way the referral learnt of it.
            open_recurring_window(referral, at=payments[0].paid_at)
        for payment in payments:
            _credit(merchant, referral, payment, first=payments[0].paid_at)
        ids = [p.source_id for p in payments]
        earned = Commission.objects.for_merchant(merchant).filter(referral=referral, source_id__in=ids)
        amounts = {
            row["currency"]: int(row["net"] or 0)
            for row in earned.values("currency").annotate(net=Sum(NET_AMOUNT)).order_by("currency")
        }
        CustomerBackfill.objects.filter(pk=backfill.pk).update(
            status=CustomerBackfill.Status.DONE,
            payments=len(payments),
            credited=earned.count(),
            amounts=amounts,
            error="",
            finished_at=timezone.now(),
        )
    backfill.refresh_from_db()
    return backfill


def _credit(merchant: Merchant, referral: Referral, payment: Payment, *, first: datetime) -> None:
    """One past payment, as the webhook would record it, unless it already earned a commission."""
    lock_keys(merchant.pk, payment.source_id, payment.payment_intent, payment.charge)
    existing = (
        find_commission(merchant, payment_intent=payment.payment_intent, charge=payment.charge, invoice=payment.invoice)
        or Commission.objects.for_merchant(merchant).filter(source_id=payment.source_id).first()
    )
    if existing is not None:
        if existing.referral_id == referral.pk:  # the webhook credited it meanwhile (a parked invoice woken)
            link_commission_payment(existing, payment_intent=payment.payment_intent, charge=payment.charge)
        return
    is_recurring = payment.is_recurring if payment.is_recurring is not None else payment.paid_at > first
    commission = record_and_wake(
        merchant,
        referral,
        source_type=payment.source_type,
        source_id=payment.source_id,
        base_amount=payment.base_amount,
        currency=payment.currency,
        paid_at=payment.paid_at,
        customer_email=payment.email or referral.customer_email,
        is_recurring=is_recurring,
        stripe_payment_intent_id=payment.payment_intent,
        stripe_charge_id=payment.charge,
        stripe_invoice_id=payment.invoice,
        lines=payment.lines,
    )
    if commission is not None and payment.refunded > 0 and payment.charge_amount > 0:
        # As charge.refunded would: the refunded share of the charge, taken of the commission's base.
        refunded = (
            commission.base_amount
            if payment.refunded >= payment.charge_amount
            else money.proportion(commission.base_amount, payment.refunded, payment.charge_amount)
        )
        apply_refund(commission, refunded_amount=refunded)
