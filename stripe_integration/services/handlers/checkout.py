"""Checkout Sessions: checkout.session.completed and checkout.session.async_payment_succeeded."""

from __future__ import annotations

from affiliates.models import Commission
from affiliates.services import reprice_commission
from tenants.models import Merchant
from tracking.services import resolve_reference

from ...models import StripeEvent
from ..links import _record, link_customer
from ..payload import _event_time, _id, _reference, _timestamp, checkout_amount_excluding_tax
from ..promotion_codes import assigned_code, attributed_referral, session_promotion_code_ids
from ..waiting import rerun_payment_events
from .registry import handles


@handles("checkout.session.completed", "checkout.session.async_payment_succeeded")
def handle_checkout_session(merchant: Merchant, session: dict, event: StripeEvent) -> None:
    """checkout.session.completed and checkout.session.async_payment_succeeded.

    Payment mode earns a commission on the PaymentIntent (so payment_intent.succeeded for the same payment adds
    nothing), once paid; an unpaid session (delayed payment methods) waits for async_payment_succeeded, which carries
    the same session, paid. Subscription mode links the customer and subscription and leaves the money to invoices.

    The referral is the one the session's referral id names, or the affiliate's whose assigned promotion code it used
    (with no referral id, or where the program puts codes first: services/promotion_codes.py).
    """
    reference = str(session.get("client_reference_id") or "").strip() or _reference(session)
    codes = session_promotion_code_ids(session)
    if not reference and not codes:
        return
    mode = session.get("mode") or "payment"
    paid = session.get("payment_status") == "paid"
    if mode == "payment" and not paid:
        return
    customer_id = _id(session.get("customer"))
    referral = attributed_referral(
        merchant,
        referral=resolve_reference(merchant, reference) if reference else None,
        code=assigned_code(merchant, codes),
        customer_id=customer_id,
    )
    if referral is None:
        return
    email = (session.get("customer_details") or {}).get("email") or session.get("customer_email") or ""
    if customer_id:
        # A subscription paid at checkout opens its recurring window there; a trial's opens at its first payment.
        window = _timestamp(session.get("created")) if mode == "subscription" and paid else None
        link_customer(
            referral,
            customer_id=customer_id,
            email=email,
            subscription_id=_id(session.get("subscription")),
            window_start=window,
        )
    if mode != "payment" or not paid:
        return
    payment_intent = _id(session.get("payment_intent"))
    base_amount = checkout_amount_excluding_tax(session)
    commission = _record(
        merchant,
        referral,
        source_type=Commission.SourceType.PAYMENT_INTENT if payment_intent else Commission.SourceType.CHECKOUT_SESSION,
        source_id=payment_intent or _id(session),
        base_amount=base_amount,
        currency=session.get("currency") or "usd",
        paid_at=_event_time(event),
        customer_email=email,
        stripe_payment_intent_id=payment_intent,
    )
    if commission is not None and (commission.base_amount != base_amount or _names_affiliate(commission, email)):
        # payment_intent.succeeded (with our metadata) may have come first, without the tax and email Checkout knows.
        commission, changed = reprice_commission(commission, base_amount=base_amount, customer_email=email)
        if changed:
            rerun_payment_events(
                merchant, payment_intent=commission.stripe_payment_intent_id, charge=commission.stripe_charge_id
            )


def _names_affiliate(commission: Commission, email: str) -> bool:
    return not commission.is_self_referral and commission.affiliate.is_self_referral(email)
