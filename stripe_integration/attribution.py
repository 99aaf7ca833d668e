"""Attribution the merchant asks for, from the dashboard or the API: promotion codes assigned to affiliates, and
customers bound by hand with their past payments credited (services/promotion_codes.py, services/backfill.py).

What the web layers call: it writes through the services, then gets the work that follows done once the write has
committed (the backfill task; a drainer for the events a binding woke).
"""

from __future__ import annotations

from django.db import transaction

from affiliates.models import Affiliate, Referral
from tenants.models import Merchant

from . import drainers, services
from .models import CustomerBackfill
from .services import (
    AttributionError,
    assign_promotion_code,
    create_promotion_code,
    find_customers,
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
