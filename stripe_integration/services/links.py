"""Links between Stripe objects and referrals or commissions, each waking the events that waited for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from affiliates.models import Commission, Referral
from affiliates.services import create_referral, record_commission
from tenants.models import Merchant

from .waiting import lock_keys, wake_waiting


def link_customer(
    referral: Referral,
    *,
    customer_id: str,
    email: str = "",
    subscription_id: str = "",
    window_start: datetime | None = None,
    source: str = "",
) -> Referral:
    """Links a Stripe customer to the referral that brought them; the first link wins.

    Idempotency key: (merchant, stripe_customer_id), unique among referrals. If the customer is already linked, that
    referral is returned (its missing subscription id or email filled in). If `referral` already belongs to another
    customer (one visitor, two Stripe customers), a new referral of the same affiliate takes this one. `window_start`
    opens the recurring-commission window (a subscription paid at checkout starts it there). Wakes events waiting for
    the customer. `source` (a lead's binding) becomes the referral's source, so the funnel says how it was won.
    """
    merchant_id = referral.merchant_id
    lock_keys(merchant_id, customer_id)
    existing = Referral.objects.filter(merchant_id=merchant_id, stripe_customer_id=customer_id).first()
    if existing is not None:
        fill = {}
        if subscription_id and not existing.stripe_subscription_id:
            fill["stripe_subscription_id"] = subscription_id
        if email and not existing.customer_email:
            fill["customer_email"] = email[:254]
        if fill:
            Referral.objects.filter(pk=existing.pk).update(**fill)
            existing.refresh_from_db()
        return existing
    fields = dict(
        stripe_customer_id=customer_id,
        customer_email=(email or "")[:254],
        stripe_subscription_id=subscription_id or "",
    )
    if source:
        fields["source"] = source
    claimed = Referral.objects.filter(pk=referral.pk, stripe_customer_id__isnull=True).update(
        **fields, converted_at=referral.converted_at or timezone.now()
    )
    if claimed:
        linked = Referral.objects.get(pk=referral.pk)
    else:
        linked = create_referral(referral.affiliate, converted_at=timezone.now(), **fields)
    if window_start is not None:
        Referral.objects.filter(pk=linked.pk, first_payment_at__isnull=True).update(first_payment_at=window_start)
        linked.refresh_from_db()
    wake_waiting(merchant_id, customer_id)
    return linked


def find_commission(
    merchant: Merchant, *, payment_intent: str = "", charge: str = "", invoice: str = ""
) -> Commission | None:
    condition = Q()
    if payment_intent:
        condition |= Q(stripe_payment_intent_id=payment_intent) | Q(source_id=payment_intent)
    if charge:
        condition |= Q(stripe_charge_id=charge) | Q(source_id=charge)
    if invoice:
        condition |= Q(source_id=invoice)
    if not condition:
        return None
    return Commission.objects.for_merchant(merchant).filter(condition).order_by("pk").first()


def record_and_wake(merchant: Merchant, referral: Referral, **kwargs: Any) -> Commission | None:
    """record_commission, then wake the refunds and disputes waiting for this payment."""
    keys = (kwargs.get("source_id"), kwargs.get("stripe_payment_intent_id"), kwargs.get("stripe_charge_id"))
    lock_keys(merchant.pk, *keys)
    commission, _created = record_commission(referral, **kwargs)
    if commission is not None:
        link_commission_payment(
            commission,
            payment_intent=kwargs.get("stripe_payment_intent_id", ""),
            charge=kwargs.get("stripe_charge_id", ""),
        )
    wake_waiting(merchant.pk, *keys)
    return commission


def link_commission_payment(commission: Commission, *, payment_intent: str = "", charge: str = "") -> Commission:
    """Fills in the PaymentIntent and charge a commission's refunds and disputes will name, where still unknown."""
    fill = {}
    if payment_intent and not commission.stripe_payment_intent_id:
        fill["stripe_payment_intent_id"] = payment_intent
    if charge and not commission.stripe_charge_id:
        fill["stripe_charge_id"] = charge
    if fill:
        Commission.objects.filter(pk=commission.pk).update(**fill)
        commission.refresh_from_db()
    return commission


def end_referral_subscription(referral: Referral, *, ended_at: datetime) -> Referral:
    """Idempotent: the earliest end wins."""
    Referral.objects.filter(pk=referral.pk).filter(
        Q(subscription_ended_at__isnull=True) | Q(subscription_ended_at__gt=ended_at)
    ).update(subscription_ended_at=ended_at)
    referral.refresh_from_db()
    return referral


def open_recurring_window(referral: Referral, *, at: datetime) -> Referral:
    """The referral's recurring window opens at its first paid payment, `at` or earlier: idempotent, the earliest wins
    (as every recorded payment's does, affiliates/services/commissions.py)."""
    Referral.objects.filter(pk=referral.pk).filter(
        Q(first_payment_at__isnull=True) | Q(first_payment_at__gt=at)
    ).update(first_payment_at=at)
    referral.refresh_from_db(fields=["first_payment_at"])
    return referral
