"""Stripe events: storing them, and turning them into referral links and commissions.

The webhook stores each event (`store_event`) and a task runs `process_event`, which dispatches on the event type
through `HANDLERS`. Handlers read what the event carries (no API call): the money math lives in
affiliates/services/ (commissions.py)
(`record_commission`, `apply_refund`, `hold_commission`, `settle_dispute`).

Order does not matter. A handler that needs something another event brings (an invoice before its customer is linked,
a refund before its commission exists) raises `WaitFor(key)`: the event is parked as WAITING with `waiting_for=key`,
and whoever later writes that key (a customer link, a commission naming a PaymentIntent, charge or invoice) wakes the
parked events in the same transaction. Postgres advisory locks on the key make "check, then park" and "write, then
wake" mutually exclusive, so no wake-up is lost between two workers.

Split by subject: storing.py, claiming.py, processing.py (and the sweep), waiting.py, payload.py, links.py and the
handlers/ by event subject; import from `stripe_integration.services` as before.
"""

from .claiming import asynchronous_commits  # noqa: F401
from .handlers import HANDLERS, MAY_WAIT, WEBHOOK_EVENT_TYPES  # noqa: F401
from .links import end_referral_subscription, link_commission_payment, link_customer  # noqa: F401
from .payload import checkout_amount_excluding_tax, invoice_subscription, invoice_tax  # noqa: F401
from .processing import (  # noqa: F401
    MAX_ATTEMPTS,
    TRANSIENT_ERRORS,
    process_event,
    process_next_event,
    requeue_stale_events,
)
from .storing import UNKNOWN_ACCOUNT, _insert_unless_stored, store_event  # noqa: F401
from .waiting import WAIT_LIMIT, WaitFor, expire_waiting_events, lock_keys, rerun_payment_events, wake_waiting  # noqa: F401
