"""The line items of a Stripe payment, as affiliates.rules.Line, for the program's per-line rules.

An invoice carries its lines (`lines.data[]`: the product and price at `pricing.price_details` from API 2025-03-31,
at `price` or `plan` before; `amount`; `discount_amounts[]`; inclusive taxes inside the amount, in `taxes[]` or
`tax_amounts[]`). A Checkout Session's webhook carries none: they are read from Stripe's API
(`GET /v1/checkout/sessions/<id>/line_items`) through the StripeClient, and only when the program has a rule that
looks at products or prices, since every other rule decides the payment as a whole.
"""

from __future__ import annotations

from affiliates.models import Program
from affiliates.rules import Line, needs_lines
from tenants.models import Merchant

from .client import stripe_client

MAX_CHECKOUT_LINES = 100  # Stripe's page size limit; a longer checkout's remaining lines share in proportion


def _id(value) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _product_and_price(item: dict) -> tuple[str, str]:
    details = (item.get("pricing") or {}).get("price_details") or {}
    price = item.get("price") or item.get("plan") or {}
    product = _id(details.get("product")) or (_id(price.get("product")) if isinstance(price, dict) else "")
    return product, _id(details.get("price")) or _id(price)


def _inclusive_tax(item: dict) -> int:
    taxes = item.get("taxes") or []
    if taxes:
        return sum(int(t.get("amount") or 0) for t in taxes if t.get("tax_behavior") == "inclusive")
    return sum(int(t.get("amount") or 0) for t in item.get("tax_amounts") or [] if t.get("inclusive"))


def invoice_lines(invoice: dict) -> list[Line]:
    """The invoice's lines: what each cost before discounts and tax, and its own discounts. An invoice event carries
    its first lines only (`has_more`): the rest of its subtotal is one more line, of no known product."""
    carried = invoice.get("lines") or {}
    items = carried.get("data") or []
    lines = []
    for item in items:
        product, price = _product_and_price(item)
        discount = sum(int(d.get("amount") or 0) for d in item.get("discount_amounts") or [])
        lines.append(
            Line(
                amount=int(item.get("amount") or 0) - _inclusive_tax(item),
                product=product,
                price=price,
                discount=discount,
            )
        )
    if carried.get("has_more"):
        rest = int(invoice.get("subtotal") or 0) - sum(int(item.get("amount") or 0) for item in items)
        if rest > 0:
            lines.append(Line(amount=rest))
    return lines


def checkout_item_lines(items: list[dict]) -> list[Line]:
    """Checkout line items (`item` objects): `amount_subtotal` before discounts and tax, `amount_discount`."""
    lines = []
    for item in items:
        product, price = _product_and_price(item)
        lines.append(
            Line(
                amount=int(item.get("amount_subtotal") or 0),
                product=product,
                price=price,
                discount=int(item.get("amount_discount") or 0),
            )
        )
    return lines


def checkout_lines(merchant: Merchant, session: dict, *, program: Program) -> list[Line]:
    """The session's line items when the program's rules need them: those the payload carries (a session retrieved
    with `expand[]=line_items`), else read from Stripe's API; none otherwise."""
    if not needs_lines(program.rules or []):
        return []
    carried = session.get("line_items")
    if isinstance(carried, dict) and not carried.get("has_more"):
        return checkout_item_lines(carried.get("data") or [])
    page = stripe_client().v1.checkout.sessions.line_items.list(
        _id(session),
        params={"limit": MAX_CHECKOUT_LINES},
        options={"stripe_account": merchant.stripe_account_id},
    )
    return checkout_item_lines([item.to_dict() for item in page.data])
