"""The event handlers, by event type.

Each takes (merchant, the event's data.object, the stored event). Returning means processed; WaitFor parks it.
"""

from __future__ import annotations

from collections.abc import Callable

from tenants.models import Merchant

from ...models import StripeEvent
from .checkout import handle_checkout_session
from .customers import handle_customer
from .deauthorization import handle_deauthorized
from .invoices import handle_invoice_paid, handle_invoice_payment_paid
from .payment_intents import handle_payment_intent_succeeded
from .refunds import handle_charge_refunded, handle_dispute_closed, handle_dispute_created
from .subscriptions import handle_subscription_deleted

HANDLERS: dict[str, Callable[[Merchant, dict, StripeEvent], None]] = {
    "checkout.session.completed": handle_checkout_session,
    "checkout.session.async_payment_succeeded": handle_checkout_session,
    "payment_intent.succeeded": handle_payment_intent_succeeded,
    "customer.created": handle_customer,
    "customer.updated": handle_customer,
    "invoice.paid": handle_invoice_paid,
    "invoice.payment_succeeded": handle_invoice_paid,
    "invoice_payment.paid": handle_invoice_payment_paid,
    "charge.refunded": handle_charge_refunded,
    "charge.dispute.created": handle_dispute_created,
    "charge.dispute.closed": handle_dispute_closed,
    "customer.subscription.deleted": handle_subscription_deleted,
    "account.application.deauthorized": handle_deauthorized,
}

# The handlers that may park their event (raise WaitFor): they run in a savepoint, so parking leaves nothing written.
MAY_WAIT = frozenset(
    {
        handle_invoice_paid,
        handle_invoice_payment_paid,
        handle_charge_refunded,
        handle_dispute_created,
        handle_dispute_closed,
        handle_subscription_deleted,
    }
)

# The event types the platform's Connect webhook endpoint must be subscribed to (shown on the settings page).
# invoice_payment.paid matters on API versions 2025-03-31 and later: it is how a refund or dispute of a subscription
# payment finds the invoice's commission, since those invoices no longer name their PaymentIntent.
WEBHOOK_EVENT_TYPES: tuple[str, ...] = tuple(HANDLERS)
