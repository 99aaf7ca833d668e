"""Stripe events: storing them, and turning them into referral links and commissions.

The webhook stores each event (`store_event`); drainers (stripe_integration/drainers.py) then claim pending events one
at a time (`process_next_event`) and run each one's handler, found by event type in `HANDLERS` (handlers/, each
declared once with its event types). Handlers read what the event carries (one Stripe API call, only where newer API
versions leave no other way: handlers/refunds.py); the money math lives in affiliates/services/commissions.py
(`record_commission`, `apply_refund`, `hold_commission`, `settle_dispute`). Nothing here enqueues a task or talks to
Redis: imports go tasks -> drainers -> services, and asking for processing is the drainers'.

Order does not matter. A handler that needs something another event brings (an invoice before its customer is linked,
a refund before its commission exists) raises `WaitFor(key)`: the event is parked as WAITING with `waiting_for=key`,
and whoever later writes that key (a customer link, a commission naming a PaymentIntent, charge or invoice) wakes the
parked events in the same transaction. Postgres advisory locks on the key make "check, then park" and "write, then
wake" mutually exclusive, so no wake-up is lost between two workers.

By subject: storing.py, claiming.py, processing.py (and what the periodic sweep takes), waiting.py (parking, waking,
expiring), payload.py (reading Stripe objects), links.py (customers and payments linked to referrals and commissions)
and handlers/ by event subject; promotion_codes.py (codes assigned to affiliates, and the payments that used them)
and backfill.py (customers the merchant binds by hand, and their past payments), both asking Stripe through
lookups.py; the rest of the project imports what it uses from `stripe_integration.services`.
"""

from .backfill import backfill_customer, bind_customer, find_customers, past_payments  # noqa: F401
from .claiming import asynchronous_commits  # noqa: F401
from .handlers import HANDLERS, MAY_WAIT, WEBHOOK_EVENT_TYPES  # noqa: F401
from .leads import bind_by_lead, match_lead  # noqa: F401
from .links import link_customer  # noqa: F401
from .lookups import AttributionError  # noqa: F401
from .processing import (  # noqa: F401
    MAX_ATTEMPTS,
    TRANSIENT_ERRORS,
    process_event,
    process_next_event,
    sweep_stale_events,
)
from .promotion_codes import (  # noqa: F401
    assign_promotion_code,
    create_promotion_code,
    lookup_promotion_code,
    remove_promotion_code,
    set_promotion_codes,
    suggested_code,
)
from .storing import UNKNOWN_ACCOUNT, UnreadableEvent, read_event, store_event  # noqa: F401
from .waiting import expire_waiting_events  # noqa: F401
