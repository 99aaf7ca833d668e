"""PaymentIntents the merchant created with our metadata: payment_intent.succeeded."""

from __future__ import annotations

from affiliates.models import Commission
from tenants.models import Merchant
from tracking.services import resolve_reference

from ...models import StripeEvent
from ..links import _record, link_customer
from ..payload import _event_time, _id, _reference
from .registry import handles


@handles("payment_intent.succeeded")
def handle_payment_intent_succeeded(merchant: Merchant, intent: dict, event: StripeEvent) -> None:
    """A PaymentIntent the merchant created with `metadata._afficoneRef` (PaymentIntents without it are not ours:
    Checkout's and invoices' own PaymentIntents are attributed through their sessions and invoices)."""
    reference = _reference(intent)
    if not reference:
        return
    referral = resolve_reference(merchant, reference)
    if referral is None:
        return
    email = intent.get("receipt_email") or ""
    customer_id = _id(intent.get("customer"))
    if customer_id:
        link_customer(referral, customer_id=customer_id, email=email)
    _record(
        merchant,
        referral,
        source_type=Commission.SourceType.PAYMENT_INTENT,
        source_id=_id(intent),
        base_amount=int(intent.get("amount_received") or intent.get("amount") or 0),
        currency=intent.get("currency") or "usd",
        paid_at=_event_time(event),
        customer_email=email or referral.customer_email,
        stripe_payment_intent_id=_id(intent),
        stripe_charge_id=_id(intent.get("latest_charge")),
    )
