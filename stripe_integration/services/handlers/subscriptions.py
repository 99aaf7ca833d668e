"""Subscriptions: customer.subscription.created and .updated (promotion codes), customer.subscription.deleted."""

from __future__ import annotations

from affiliates.models import Referral
from tenants.models import Merchant

from ...models import StripeEvent
from ..links import end_referral_subscription
from ..payload import StripeData, event_time
from ..promotion_codes import bind_by_promotion_code, has_discounts
from ..waiting import WaitFor, lock_keys
from .registry import handles


@handles("customer.subscription.deleted", may_wait=True)
def handle_subscription_deleted(merchant: Merchant, subscription: StripeData, event: StripeEvent) -> None:
    """No recurring commission for invoices paid after the subscription ended."""
    customer_id = subscription.id("customer")
    if not customer_id:
        return
    ended_at = subscription.timestamp("ended_at") or subscription.timestamp("canceled_at") or event_time(event)
    lock_keys(merchant.pk, customer_id)
    referral = Referral.objects.for_merchant(merchant).filter(stripe_customer_id=customer_id).first()
    if referral is None:
        raise WaitFor(customer_id)
    if referral.stripe_subscription_id and referral.stripe_subscription_id != subscription.string("id"):
        return  # another subscription of the same customer ended; the referred one goes on
    end_referral_subscription(referral, ended_at=ended_at)


@handles("customer.subscription.created", "customer.subscription.updated")
def handle_subscription_discounts(merchant: Merchant, subscription: StripeData, event: StripeEvent) -> None:
    """A subscription that uses a promotion code assigned to an affiliate (created with it, or given it later, say
    in the customer portal) binds its customer, if nobody referred them: its invoices then earn as any referred
    customer's. Most subscriptions have no discounts and cost nothing here."""
    customer_id = subscription.id("customer")
    if not customer_id or not has_discounts(subscription):
        return
    lock_keys(merchant.pk, customer_id)
    if Referral.objects.for_merchant(merchant).filter(stripe_customer_id=customer_id).exists():
        return
    bind_by_promotion_code(merchant, subscription, customer_id=customer_id, subscription_id=subscription.string("id"))
