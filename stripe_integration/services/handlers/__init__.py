"""The event handlers, by subject, each declared once with `@handles(...)` (registry.py).

Each takes (merchant, the event's data.object, the stored event). Returning means processed (returning a string
records it as the event's outcome, e.g. "excluded: customer metadata afficone=false"); WaitFor parks it.
"""

from __future__ import annotations

# Importing a handler module declares its handlers; every module of this package is imported here
# (tests/stripe_integration/test_event_types.py checks that none is left out).
from . import checkout, customers, deauthorization, invoices, payment_intents, refunds, subscriptions  # noqa: F401
from .registry import HandlerFunction, declared

HANDLERS: dict[str, HandlerFunction] = {t: handler.function for handler in declared() for t in handler.event_types}

MAY_WAIT: frozenset[HandlerFunction] = frozenset(handler.function for handler in declared() if handler.may_wait)

# Handled for a merchant who disconnected Stripe as well.
WHEN_DISCONNECTED: frozenset[str] = frozenset(
    t for handler in declared() if handler.when_disconnected for t in handler.event_types
)

# The event types the platform's Connect webhook endpoint must be subscribed to (README, "Stripe"). Stripe's other
# events are stored and ignored. invoice_payment.paid matters on API versions 2025-03-31 and later: it is how a refund
# or dispute of a subscription payment finds the invoice's commission, since those invoices no longer name their
# PaymentIntent.
WEBHOOK_EVENT_TYPES: tuple[str, ...] = tuple(HANDLERS)
