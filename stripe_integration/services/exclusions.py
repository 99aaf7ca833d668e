"""Payments the merchant keeps out of commissions, and the outcome an event records when it earns nothing.

Metadata `afficone: "false"` (any case, spaces around it ignored: `opted_out`, the one test, which the webhook's
handlers and the manual backfill share) on an object of a payment keeps it from earning (DESIGN.md, "Attribution
beyond the cookie"):

- on the Checkout Session, invoice or PaymentIntent the event carries, on the invoice's subscription, or on the
  customer: the whole payment earns nothing and no commission is written;
- on a product: that product's lines earn nothing (the commission records them, excluded, with
  `rule_source` `metadata`) and the other lines earn as usual; a payment whose every line is excluded earns nothing,
  as above.

The event's outcome says which ("excluded: customer metadata afficone=false"), on the event in Settings -> Stripe.
What the event carries is looked at first (an invoice carries its subscription's metadata, as it was when the
invoice was finalised, in `subscription_details`); what it names only by id is read from Stripe through the
StripeClient, and only for a payment that would otherwise earn a new commission: the customer
(`GET /v1/customers/<id>`), the subscription where an invoice of an API version before 2022-08-01 carries no
`subscription_details` (`GET /v1/subscriptions/<id>`), and the lines' products (one `GET /v1/products?ids[]=...`).
An object Stripe answers 404 for excludes nothing. Stripe's answer when the event is processed decides, not the order
events arrive in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from affiliates.rules import Line
from tenants.models import Merchant

from ..client import stripe_client
from .lookups import retrieve, stripe_options
from .payload import StripeData, invoice_subscription

KEY = "afficone"
# Stripe's page size limit, and so the most products one list call reads (an invoice event carries few lines).
MAX_PRODUCTS = 100

NOTHING_PAID = "earns nothing: nothing was paid (a 100%-off discount)"
ZERO_INVOICE = "earns nothing: a $0 invoice (a trial)"
ZERO_DISCOUNTED_INVOICE = "earns nothing: a $0 invoice (a 100%-off discount)"


def opted_out(obj: StripeData) -> bool:
    """Whether the object's metadata says `afficone: "false"` (case-insensitive, spaces around it ignored)."""
    return obj.object("metadata").string(KEY).strip().lower() == "false"


def because(what: str) -> str:
    """The outcome of a payment excluded by `what`'s metadata: "excluded: customer metadata afficone=false"."""
    return f"excluded: {what} metadata afficone=false"


def _carried(*objects: tuple[str, StripeData | None]) -> str:
    return next((because(what) for what, obj in objects if obj is not None and opted_out(obj)), "")


def _named(merchant: Merchant, holder: StripeData, key: str, *, plural: str, object_id: str = "") -> StripeData | None:
    """The object `holder[key]` names: expanded in the payload, else read from Stripe; None when it names none or
    Stripe no longer has it."""
    if isinstance(holder.data.get(key), dict):
        return holder.object(key)
    object_id = object_id or holder.id(key)
    if not object_id:
        return None
    found = retrieve(merchant, plural, object_id)
    return StripeData(found, plural.removesuffix("s")) if found is not None else None


def _customer(merchant: Merchant, holder: StripeData) -> str:
    customer = _named(merchant, holder, "customer", plural="customers")
    return because("customer") if customer is not None and opted_out(customer) else ""


def customer_exclusion(merchant: Merchant, customer_id: str) -> str:
    """Why the customer's payments earn nothing ("" if they earn), read from Stripe."""
    return _customer(merchant, StripeData({"customer": customer_id}, ""))


def subscription_details(invoice: StripeData) -> StripeData | None:
    """What an invoice says of its subscription (`parent.subscription_details` from API 2025-03-31, top-level
    `subscription_details` from 2022-08-01); None where the invoice's version carries neither."""
    parent = invoice.object("parent")
    if isinstance(parent.data.get("subscription_details"), dict):
        return parent.object("subscription_details")
    if isinstance(invoice.data.get("subscription_details"), dict):
        return invoice.object("subscription_details")
    return None


def checkout_exclusion(merchant: Merchant, session: StripeData) -> str:
    """Why a paid Checkout Session earns nothing ("" if it earns): its own metadata, its PaymentIntent's where
    expanded, its customer's."""
    intent = session.object("payment_intent") if isinstance(session.data.get("payment_intent"), dict) else None
    return _carried(("Checkout Session", session), ("PaymentIntent", intent)) or _customer(merchant, session)


def payment_intent_exclusion(merchant: Merchant, intent: StripeData) -> str:
    """Why a PaymentIntent the merchant created earns nothing ("" if it earns): its metadata, its customer's."""
    return _carried(("PaymentIntent", intent)) or _customer(merchant, intent)


def invoice_carried_exclusion(invoice: StripeData) -> str:
    """What the invoice itself says: its metadata, its subscription's as it carries it."""
    return _carried(("invoice", invoice), ("subscription", subscription_details(invoice)))


def invoice_exclusion(merchant: Merchant, invoice: StripeData) -> str:
    """Why a subscription invoice earns nothing ("" if it earns): its metadata, its subscription's (as the invoice
    carries it, else read), its customer's."""
    found = invoice_carried_exclusion(invoice) or _customer(merchant, invoice)
    if found or subscription_details(invoice) is not None:
        return found
    subscription_id = invoice_subscription(invoice)
    subscription = _named(merchant, invoice, "subscription", plural="subscriptions", object_id=subscription_id)
    return because("subscription") if subscription is not None and opted_out(subscription) else ""


def exclude_products(merchant: Merchant, lines: Sequence[Line]) -> tuple[list[Line], list[str]]:
    """The lines, those of products the merchant excluded marked `excluded`, and the excluded products' ids.
    Reads the lines' products from Stripe in one call (none for lines of no known product)."""
    ids = sorted({line.product for line in lines if line.product})[:MAX_PRODUCTS]
    if not ids:
        return list(lines), []
    page = stripe_client().v1.products.list(
        params={"ids": ids, "limit": MAX_PRODUCTS}, options=stripe_options(merchant)
    )
    excluded = sorted(product.id for product in page.data if opted_out(StripeData(product.to_dict(), "product")))
    if not excluded:
        return list(lines), []
    return [replace(line, excluded=True) if line.product in excluded else line for line in lines], excluded


def products_outcome(lines: Sequence[Line], excluded: Sequence[str]) -> str:
    """The outcome of a payment with lines of excluded products: all of them ("excluded: product prod_X metadata
    afficone=false", nothing earned) or some ("excluded lines: ...", the others earn)."""
    names = ", ".join(excluded)
    if all(line.excluded for line in lines):
        return because(f"product {names}")
    return f"excluded lines: product {names} metadata afficone=false"


def every_line_excluded(lines: Sequence[Line]) -> bool:
    return bool(lines) and all(line.excluded for line in lines)
