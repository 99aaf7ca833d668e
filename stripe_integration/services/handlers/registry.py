"""Where each handler is declared, once, with what it handles: `@handles("invoice.paid", may_wait=True)`.

The dispatch table (`HANDLERS`), the handlers that run in a savepoint (`MAY_WAIT`) and the event types the Connect
webhook endpoint must be subscribed to (`WEBHOOK_EVENT_TYPES`) are all read off these declarations
(handlers/__init__.py), so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenants.models import Merchant

from ...models import StripeEvent
from ..payload import StripeData

# (the merchant, the event's data.object read through StripeData, the stored event). Returning means processed (a
# string returned is the event's outcome: why it earned nothing, services/exclusions.py); WaitFor parks the event.
HandlerFunction = Callable[[Merchant, StripeData, StripeEvent], str | None]


@dataclass(frozen=True)
class Handler:
    function: HandlerFunction
    event_types: tuple[str, ...]
    # It may park its event (raise WaitFor): it runs in a savepoint, so parking leaves nothing written.
    may_wait: bool
    # It runs for a merchant who disconnected Stripe too (whose other events are stored but not attributed).
    when_disconnected: bool


_declared: list[Handler] = []


def handles(
    *event_types: str, may_wait: bool = False, when_disconnected: bool = False
) -> Callable[[HandlerFunction], HandlerFunction]:
    """Declares the decorated function the handler of `event_types`; an event type has one handler."""

    def declare(function: HandlerFunction) -> HandlerFunction:
        taken = {t for handler in _declared for t in handler.event_types}.intersection(event_types)
        if not event_types or taken:
            raise ValueError(f"{function.__qualname__}: no event types, or some already handled: {sorted(taken)}")
        _declared.append(Handler(function, event_types, may_wait, when_disconnected))
        return function

    return declare


def declared() -> tuple[Handler, ...]:
    """Every handler declared so far, in declaration order."""
    return tuple(_declared)
