"""The line items of a Stripe payment, as affiliates.rules.Line, for the program's per-line rules.

An invoice carries its lines (`lines.data[]`: the product and price at `pricing.price_details` from API 2025-03-31,
at `price` or `plan` before; `amount`; `discount_amounts[]`; inclusive taxes inside the amount, in `taxes[]` or
`tax_amounts[]`). A Checkout Session's webhook carries none: they are read from Stripe's API
(`GET /v1/checkout/sessions/<id>/line_items`) through the StripeClient, and only when the program has a rule that
looks at products or prices, since every other rule decides the payment as a whole. Fields are read through
services/payload.py's StripeData, so a line of an unexpected shape fails its event with the field named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affiliates.models import Program
from affiliates.rules import Line, needs_lines
from tenants.models import Merchant

from .client import stripe_client

if TYPE_CHECKING:  # services/ imports this module; StripeData is only named here, never needed at run time
    from .services.payload import StripeData

MAX_CHECKOUT_LINES = 100  # Stripe's page size limit; a longer checkout's remaining lines share in proportion


def _product_and_price(item: StripeData) -> tuple[str, str]:
    details = item.object("pricing").object("price_details")
    price = item.object("price") if isinstance(item.data.get("price"), dict) else item.object("plan")
    return details.id("product") or price.id("product"), details.id("price") or price.id("id") or item.id("price")


def _inclusive_tax(item: StripeData) -> int:
    taxes = item.objects("taxes")
    if taxes:
        return sum(tax.amount("amount") for tax in taxes if tax.string("tax_behavior") == "inclusive")
    return sum(tax.amount("amount") for tax in item.objects("tax_amounts") if tax.flag("inclusive"))


def invoice_lines(invoice: StripeData) -> list[Line]:
    """The invoice's lines: what each cost before discounts and tax, and its own discounts. An invoice event carries
    its first lines only (`has_more`): the rest of its subtotal is one more line, of no known product."""
    carried = invoice.object("lines")
    items = carried.objects("data")
    lines = []
    for item in items:
        product, price = _product_and_price(item)
        discount = sum(d.amount("amount") for d in item.objects("discount_amounts"))
        amount = item.amount("amount") - _inclusive_tax(item)
        lines.append(Line(amount, product=product, price=price, discount=discount))
    if carried.flag("has_more"):
        rest = invoice.amount("subtotal") - sum(item.amount("amount") for item in items)
        if rest > 0:
            lines.append(Line(amount=rest))
    return lines


def checkout_item_lines(items: list[StripeData]) -> list[Line]:
    """Checkout line items (`item` objects): `amount_subtotal` before discounts and tax, `amount_discount`."""
    lines = []
    for item in items:
        product, price = _product_and_price(item)
        lines.append(
            Line(item.amount("amount_subtotal"), product=product, price=price, discount=item.amount("amount_discount"))
        )
    return lines


def checkout_lines(merchant: Merchant, session: StripeData, *, program: Program) -> list[Line]:
    """The session's line items when the program's rules need them: those the payload carries (a session retrieved
    with `expand[]=line_items`), else read from Stripe's API; none otherwise."""
    if not needs_lines(program.rules or []):
        return []
    carried = session.object("line_items")
    if carried.data and not carried.flag("has_more"):
        return checkout_item_lines(carried.objects("data"))
    page = stripe_client().v1.checkout.sessions.line_items.list(
        session.string("id"),
        params={"limit": MAX_CHECKOUT_LINES},
        options={"stripe_account": merchant.stripe_account_id},
    )
    read = type(session)  # StripeData, without importing services/ (which imports this module)
    items = [read(item.to_dict(), f"line_items.data[{i}]") for i, item in enumerate(page.data)]
    return checkout_item_lines(items)
