"""Customers: customer.created and customer.updated, bound by our metadata (free trials) or by a lead."""

from __future__ import annotations

from tenants.models import Merchant
from tracking.services import resolve_reference

from ...models import StripeEvent
from ..leads import bind_by_lead
from ..links import link_customer
from ..payload import StripeData, reference
from .registry import handles


@handles("customer.created", "customer.updated")
def handle_customer(merchant: Merchant, customer: StripeData, event: StripeEvent) -> None:
    """customer.created / customer.updated with `metadata._afficoneRef` (free trials): link it; the first link wins.
    Without it, a lead for its email or id made within the cookie window before Stripe created it binds it."""
    referred = reference(customer)
    if not referred:
        bind_by_lead(
            merchant,
            customer_id=customer.string("id"),
            email=customer.string("email"),
            created=customer.timestamp("created"),
        )
        return
    referral = resolve_reference(merchant, referred)
    if referral is None:
        return
    link_customer(referral, customer_id=customer.string("id"), email=customer.string("email"))
