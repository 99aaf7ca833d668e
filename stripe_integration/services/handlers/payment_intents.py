"""PaymentIntents the merchant created with our metadata: payment_intent.succeeded."""

from __future__ import annotations

from affiliates.models import Commission
from tenants.models import Merchant
from tracking.services import resolve_reference

from ...models import StripeEvent
from ..exclusions import payment_intent_exclusion
from ..links import find_commission, link_customer, record_and_wake
from ..payload import StripeData, event_time, reference
from .registry import handles


@handles("payment_intent.succeeded")
def handle_payment_intent_succeeded(merchant: Merchant, intent: StripeData, event: StripeEvent) -> str | None:
    """A PaymentIntent the merchant created with `metadata._afficoneRef` (PaymentIntents without it are not ours:
    Checkout's and invoices' own PaymentIntents are attributed through their sessions and invoices). One whose
    metadata or customer the merchant excluded earns nothing (services/exclusions.py)."""
    referred = reference(intent)
    if not referred:
        return None
    referral = resolve_reference(merchant, referred)
    if referral is None:
        return None
    email = intent.string("receipt_email")
    customer_id = intent.id("customer")
    if customer_id:
        link_customer(referral, customer_id=customer_id, email=email)
    intent_id = intent.string("id")
    if find_commission(merchant, payment_intent=intent_id) is None:  # else recorded before: nothing to decide or read
        excluded = payment_intent_exclusion(merchant, intent)
        if excluded:
            return excluded
    record_and_wake(
        merchant,
        referral,
        source_type=Commission.SourceType.PAYMENT_INTENT,
        source_id=intent_id,
        base_amount=intent.amount("amount_received") or intent.amount("amount"),
        currency=intent.string("currency") or "usd",
        paid_at=event_time(event),
        customer_email=email or referral.customer_email,
        stripe_payment_intent_id=intent_id,
        stripe_charge_id=intent.id("latest_charge"),
    )
    return None
