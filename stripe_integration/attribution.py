"""Attribution the merchant asks for, from the dashboard or the API: promotion codes assigned to affiliates, and
customers bound by hand with their past payments credited (services/promotion_codes.py, services/backfill.py).

What the web layers call: it writes through the services, then gets the work that follows done once the write has
committed (the backfill task; a drainer for the events a binding woke).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from affiliates.models import Affiliate, Lead, Referral
from affiliates.services import mark_lead_bound, record_lead
from tenants.models import Merchant

from . import drainers, services
from .models import CustomerBackfill
from .services import (
    AttributionError,
    assign_promotion_code,
    create_promotion_code,
    find_customers,
    link_customer,
    remove_promotion_code,
    set_promotion_codes,
    suggested_code,
)
from .tasks import backfill_customer_task

# The writes that need no task after them are the services' own, named here so the web layers have one door.
__all__ = [
    "AttributionError",
    "assign_promotion_code",
    "attribute_customer",
    "record_server_lead",
    "create_promotion_code",
    "find_customers",
    "remove_promotion_code",
    "rerun_backfill",
    "set_promotion_codes",
    "suggested_code",
]


def attribute_customer(merchant: Merchant, *, affiliate: Affiliate, customer_id: str, source: str) -> Referral:
    """Binds the Stripe customer to `affiliate` (services.bind_customer: 400 unknown, 409 already bound) and, once
    that commits, credits their past payments in a Celery task and processes the events the binding woke."""
    with transaction.atomic():
        referral = services.bind_customer(merchant, affiliate=affiliate, customer_id=customer_id, source=source)
        backfill_customer_task.delay_on_commit(referral.backfill.pk)
        drainers.request_drain_on_commit()
    return referral


def rerun_backfill(backfill: CustomerBackfill) -> None:
    """Reads the customer's payments from Stripe again (after a failure): credits what is still uncredited, once."""
    CustomerBackfill.objects.filter(pk=backfill.pk).update(status=CustomerBackfill.Status.PENDING, error="")
    backfill_customer_task.delay_on_commit(backfill.pk)


def record_server_lead(
    merchant: Merchant, referral: Referral, *, email: str, customer: str = "", external_id: str = ""
) -> tuple[Lead, bool]:
    """A lead from the merchant's server (an API key: trusted). With `customer`, that Stripe customer is bound to the
    referral now (refused with 409, writing nothing, when it is bound to another affiliate's referral: bindings are
    permanent), and the events that waited for it are processed; without, it binds as any lead does."""
    with transaction.atomic():
        if customer:
            bound = Referral.objects.filter(merchant=merchant, stripe_customer_id=customer).first()
            if bound is not None and bound.affiliate_id != referral.affiliate_id:
                raise AttributionError(
                    "This customer is already attributed to another affiliate; the binding is permanent.",
                    code="customer_already_attributed",
                    field="customer",
                )
        lead, created = record_lead(
            referral, email=email, customer=customer, external_id=external_id, origin=Lead.Origin.SERVER
        )
        if customer:
            link_customer(referral, customer_id=customer, email=lead.email, source=Referral.Source.LEAD)
            mark_lead_bound(lead, customer_id=customer, at=timezone.now())
            drainers.request_drain_on_commit()
    lead.refresh_from_db()
    return lead, created
