"""Stripe customers bound to the referral of a lead (affiliates/services/leads.py says which lead, and why an
affiliate cannot harvest credit through one).

From events: a customer (customer.created / customer.updated, whose object says when Stripe created it), a Checkout
Session's `customer_details.email` and an invoice's `customer_email` bind through `bind_by_lead`. An invoice or a
session names its customer only by id, so for them the customer's creation time is read from Stripe, and only when a
lead could match (one indexed query first; nothing is asked of Stripe otherwise). A guest checkout (no customer)
counts from the session's own creation.

From the lead's side: a lead recorded after its customer's event was processed (the merchant's backend created the
customer first) is matched by `match_lead`, which lists the merchant's customers with that address from Stripe.
Either order binds the same customer to the same referral.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from affiliates.models import Lead, Referral
from affiliates.queries import referral_with_program
from affiliates.services import mark_lead_bound, matching_lead
from tenants.models import Merchant

from ..client import stripe_client
from .links import link_customer
from .lookups import retrieve, stripe_options


def bind_by_lead(
    merchant: Merchant,
    *,
    customer_id: str,
    email: str,
    created: datetime | None = None,
    appeared: datetime | None = None,
    payment: bool = False,
) -> Referral | None:
    """The referral a lead binds this customer to, bound now; None when no lead matches.

    `created` is when Stripe created the customer, if the event says; else it is read from Stripe when a lead
    could match. With no customer at all (a guest checkout), `appeared` (the session's creation) stands in. For a
    `payment` (a one-off checkout with no referral id), a customer a lead bound before is that lead's referral too,
    whichever event bound it; a customer bound otherwise is not a lead's to credit. One query (the lead lookup) when
    no lead matches, a second for a payment's customer.
    """
    if not email and not customer_id:
        return None
    at = created or appeared or timezone.now()
    lead = matching_lead(merchant.pk, email=email, customer_id=customer_id, created=at)
    if lead is not None and customer_id and created is None:
        created = customer_created(merchant, customer_id)
        if created is None:
            lead = None
        elif created != at:
            lead = matching_lead(merchant.pk, email=email, customer_id=customer_id, created=created)
    if lead is None:
        if payment and customer_id:
            bound = referral_with_program(merchant.pk, stripe_customer_id=customer_id)
            if bound is not None and bound.source == Referral.Source.LEAD:
                return bound
        return None
    if not customer_id:
        return lead.referral
    referral = link_customer(lead.referral, customer_id=customer_id, email=email, source=Referral.Source.LEAD)
    if referral.source != Referral.Source.LEAD:
        return None  # bound otherwise before: the binding is permanent, and not the lead's
    if referral.affiliate_id == lead.referral.affiliate_id:
        mark_lead_bound(lead, customer_id=customer_id, at=timezone.now())
    return referral


def created_at(customer: dict | None) -> datetime | None:
    """When Stripe created the customer (a customer object); None for none, a deleted one, or one without the field."""
    if customer is None or customer.get("deleted") or not isinstance(customer.get("created"), int):
        return None
    return datetime.fromtimestamp(customer["created"], tz=UTC)


def customer_created(merchant: Merchant, customer_id: str) -> datetime | None:
    """When Stripe created the customer, read from Stripe (once per event: lookups.retrieve); None for a deleted or
    unknown one."""
    return created_at(retrieve(merchant, "customers", customer_id))


def match_lead(lead_id: int) -> Referral | None:
    """A new lead against the customers Stripe already has with its address or id (created within the lead's window,
    GRACE included): the first of them not yet bound is bound through `bind_by_lead`. Nothing for a merchant whose
    Stripe is not connected."""
    lead = Lead.objects.select_related("merchant").filter(pk=lead_id, bound_at=None).first()
    if lead is None:
        return None
    merchant = lead.merchant
    if not merchant.stripe_account_id or merchant.stripe_status != Merchant.StripeStatus.CONNECTED:
        return None
    named = retrieve(merchant, "customers", lead.stripe_customer_id) if lead.stripe_customer_id else None
    listed = stripe_client().v1.customers.list(
        params={"email": lead.email, "limit": 10}, options=stripe_options(merchant)
    )
    found = [named] if named is not None else []
    found += [c.to_dict() for c in listed.data]
    for customer in sorted(found, key=lambda c: c.get("created") or 0):
        created = created_at(customer)
        if created is None:
            continue
        if Referral.objects.filter(merchant_id=merchant.pk, stripe_customer_id=customer["id"]).exists():
            continue
        referral = bind_by_lead(
            merchant, customer_id=customer["id"], email=str(customer.get("email") or lead.email), created=created
        )
        if referral is not None:
            return referral
    return None
