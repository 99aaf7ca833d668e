"""Checkout Sessions: checkout.session.completed and checkout.session.async_payment_succeeded."""

from __future__ import annotations

from django.utils import timezone

from affiliates.models import Commission
from affiliates.services import reprice_commission
from tenants.models import Merchant
from tracking.services import resolve_reference

from ...lines import checkout_lines
from ...models import StripeEvent
from ..exclusions import NOTHING_PAID, checkout_exclusion, every_line_excluded, exclude_products, products_outcome
from ..leads import bind_by_lead
from ..links import link_customer, record_and_wake
from ..payload import StripeData, checkout_amount_excluding_tax, event_time, reference
from ..promotion_codes import assigned_code, attributed_referral, session_promotion_code_ids
from ..waiting import rerun_payment_events
from .registry import handles


@handles("checkout.session.completed", "checkout.session.async_payment_succeeded")
def handle_checkout_session(merchant: Merchant, session: StripeData, event: StripeEvent) -> str | None:
    """checkout.session.completed and checkout.session.async_payment_succeeded.

    Payment mode earns a commission on the PaymentIntent (so payment_intent.succeeded for the same payment adds
    nothing), once paid; an unpaid session (delayed payment methods) waits for async_payment_succeeded, which carries
    the same session, paid. A session that needed no payment (100% off) binds its customer and earns nothing.
    Subscription mode links the customer and subscription and leaves the money to invoices. A session, customer or
    product the merchant excluded earns nothing (services/exclusions.py; the outcome says which).

    The referral is the one the session's referral id names, or the affiliate's whose assigned promotion code it used
    (with no referral id, or where the program puts codes first: services/promotion_codes.py), or with neither the
    one a lead bound to the buyer (services/leads.py).
    """
    referred = session.string("client_reference_id").strip() or reference(session)
    codes = session_promotion_code_ids(session)
    mode = session.string("mode") or "payment"
    status = session.string("payment_status")
    free = status == "no_payment_required" or (status == "paid" and session.amount("amount_total") <= 0)
    paid = status == "paid" and not free
    if mode == "payment" and not paid and not free:
        return None
    customer_id = session.id("customer")
    if mode == "payment" and free and not customer_id:
        return NOTHING_PAID  # Stripe creates a customer for every free order; without one there is nobody to bind
    email = session.object("customer_details").string("email") or session.string("customer_email")
    if referred or codes:
        referral = attributed_referral(
            merchant,
            referral=resolve_reference(merchant, referred) if referred else None,
            code=assigned_code(merchant, codes),
            customer_id=customer_id,
        )
    else:
        # No referral id, no code: a lead for the buyer's email (or customer) may know the referral.
        referral = bind_by_lead(
            merchant, customer_id=customer_id, email=email, appeared=session.timestamp("created"), payment=True
        )
    if referral is None:
        return None
    if customer_id:
        # A subscription paid at checkout opens its recurring window there; a trial's opens at its first payment.
        window = (session.timestamp("created") or timezone.now()) if mode == "subscription" and paid else None
        link_customer(
            referral,
            customer_id=customer_id,
            email=email,
            subscription_id=session.id("subscription"),
            window_start=window,
        )
    if mode != "payment":
        return None
    if free:
        return NOTHING_PAID
    excluded = checkout_exclusion(merchant, session)
    if excluded:
        # Even where payment_intent.succeeded recorded this payment first: its commission is left as it is, as it
        # would be had that event come after this one.
        return excluded
    payment_intent = session.id("payment_intent")
    base_amount = checkout_amount_excluding_tax(session)
    currency = session.string("currency") or "usd"
    lines, products = exclude_products(merchant, checkout_lines(merchant, session, program=referral.affiliate.program))
    outcome = products_outcome(lines, products) if products else ""
    if every_line_excluded(lines):
        return outcome
    commission = record_and_wake(
        merchant,
        referral,
        source_type=Commission.SourceType.PAYMENT_INTENT if payment_intent else Commission.SourceType.CHECKOUT_SESSION,
        source_id=payment_intent or session.string("id"),
        base_amount=base_amount,
        currency=currency,
        paid_at=event_time(event),
        customer_email=email,
        stripe_payment_intent_id=payment_intent,
        lines=lines,
    )
    if commission is not None and (
        commission.base_amount != base_amount or _names_affiliate(commission, email) or (lines and not commission.lines)
    ):
        # payment_intent.succeeded (with our metadata) may have come first, without the tax, email and line items
        # Checkout knows.
        commission, changed = reprice_commission(
            commission, base_amount=base_amount, customer_email=email, lines=lines, currency=currency
        )
        if changed:
            rerun_payment_events(
                merchant, payment_intent=commission.stripe_payment_intent_id, charge=commission.stripe_charge_id
            )
    return outcome


def _names_affiliate(commission: Commission, email: str) -> bool:
    return not commission.is_self_referral and commission.affiliate.is_self_referral(email)
