"""Storing a verified event: one statement, its merchant found on the way, duplicates recognised."""

from __future__ import annotations

import json
import re
from typing import Any

from afficone.jsonbody import JSONBodyError, loads

from ..models import StripeEvent
from . import sql
from .payload import timestamp, unexpected

# JSON escapes of text Postgres stores neither in text nor in jsonb: NUL, and either half of a surrogate pair alone.
# A backslash counts as an escape's own only after an even number of backslashes (`\\u0000` is typed-out text).
ESCAPE = r"(?<!\\)(?:\\\\)*"
UNSTORABLE = re.compile(
    rf"{ESCAPE}\\u0000"
    rf"|{ESCAPE}\\u[dD][89abAB][0-9a-fA-F]{{2}}(?!\\u[dD][c-fC-F][0-9a-fA-F]{{2}})"
    rf"|{ESCAPE}(?<!\\u[dD][89abAB][0-9a-fA-F]{{2}})\\u[dD][c-fC-F][0-9a-fA-F]{{2}}"
)


class UnreadableEvent(ValueError):
    """A webhook body that is no event Afficone can store; the message says why, for the 400 answer."""


def read_event(body: bytes) -> tuple[dict[str, Any], str]:
    """The event in a webhook's (verified) body, and the body's text, which is what is stored: plain JSON, not the
    stripe library's StripeObject, so the event is kept as Stripe sent it. Raises UnreadableEvent."""
    try:
        raw = body.decode()
        payload = loads(raw)
    except UnicodeDecodeError:
        raise UnreadableEvent("The body is not JSON.") from None
    except JSONBodyError as exc:  # nesting too deep for the decoder included
        raise UnreadableEvent(f"The body cannot be read as JSON: {exc}") from None
    if ("NaN" in raw or "Infinity" in raw) and _has_constants(raw):
        raise UnreadableEvent("The body is not JSON: NaN and Infinity are not JSON numbers.")
    if "\\u" in raw and UNSTORABLE.search(raw):
        raise UnreadableEvent("The event cannot be stored: it escapes a NUL character or half of a surrogate pair.")
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("id"), str)
        or not isinstance(payload.get("type"), str)
    ):
        raise UnreadableEvent("The body is not a Stripe event (id and type are required).")
    return payload, raw


def _has_constants(raw: str) -> bool:
    """Whether `raw` holds NaN, Infinity or -Infinity outside strings: Python's decoder takes them, Postgres' jsonb
    refuses them (called only when the words appear at all, and on text already parsed once)."""
    found: list[str] = []
    json.loads(raw, parse_constant=found.append)
    return bool(found)


def store_event(payload: dict[str, Any], *, raw: str | None = None) -> StripeEvent | None:
    """Stores a verified event; None for a duplicate (already stored, nothing done). The caller asks for its
    processing (drainers.request_drain_on_commit) when the event has a merchant.

    Idempotency key: `StripeEvent.stripe_id` (unique). Events of an unknown account are stored as IGNORED; those whose
    `account` is not a string, as FAILED with the reason. `raw` is the JSON text `payload` was parsed from (the
    webhook's body): stored as it is rather than serialised again.
    """
    account = payload.get("account") or ""
    unmatched = (StripeEvent.Status.IGNORED, UNKNOWN_ACCOUNT)
    if not isinstance(account, str):  # no merchant can be told from it: stored as failed, never processed
        unmatched = (StripeEvent.Status.FAILED, f"ValueError: {unexpected('account', 'a Stripe account id', account)}")
        account = ""
    try:
        created = timestamp(payload.get("created"), "created")
    except ValueError:
        created = None  # processing fails the event, naming the field (payload.event_object)
    event = StripeEvent(
        stripe_id=payload["id"][:255],
        type=str(payload["type"])[:100],
        account=account[:255],
        livemode=payload.get("livemode") is True,
        payload=payload,
        stripe_created_at=created,
    )
    if not sql.insert_event_unless_stored(event, raw=raw, unmatched=unmatched):
        return None
    return event


UNKNOWN_ACCOUNT = "No merchant is connected to this Stripe account."
