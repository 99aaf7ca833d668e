"""Customers created with our metadata (free trials): customer.created and customer.updated."""

from __future__ import annotations

from tenants.models import Merchant
from tracking.services import resolve_reference

from ...models import StripeEvent
from ..links import link_customer
from ..payload import StripeData, reference
from .registry import handles


@handles("customer.created", "customer.updated")
def handle_customer(merchant: Merchant, customer: StripeData, event: StripeEvent) -> None:
    """customer.created / customer.updated with `metadata._afficoneRef` (free trials): link it; the first link wins."""
    referred = reference(customer)
    if not referred:
        return
    referral = resolve_reference(merchant, referred)
    if referral is None:
        return
    link_customer(referral, customer_id=customer.string("id"), email=customer.string("email"))
