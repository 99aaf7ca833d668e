"""Signed Stripe webhook events built from Stripe's own example objects.

Objects start from `tests/fixtures/stripe/fixtures3.json` (Stripe's openapi fixtures: one example per resource), are
put in
the state a scenario needs (a builder per resource, each taking `**patch`; nested dicts are merged, so
`checkout_session(total_details={"amount_tax": 100})` keeps the other keys), get fresh ids, and are wrapped in a Connect
event envelope that names the merchant's `account`. `post_event` signs the exact body with `STRIPE_WEBHOOK_SECRET` and
posts it through the real view, with Django's test client or to a live server URL.

    from tests.stripe_events import checkout_session, make_event, post_event
    session = checkout_session(client_reference_id=referral.rid, amount_total=5000)
    response = post_event(client, make_event("checkout.session.completed", session, account=merchant.stripe_account_id))
    post_event("http://127.0.0.1:8001", event)            # a live_server URL: plain HTTP POST, returns (status, body)

Builders return plain dicts; `new_id("pi")` makes a fresh Stripe-shaped id. All amounts are integer minor units.
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import stripe
from django.conf import settings
from django.test import TestCase

# Stripe's example objects, copied into the repository so any clone runs the suite (tests/fixtures/stripe/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stripe" / "fixtures3.json"
API_VERSION = "2025-03-31.basil"
WEBHOOK_PATH = "/stripe/webhook/"

_resources: dict[str, dict] | None = None
_counter = itertools.count(1)


def fixture(resource: str) -> dict:
    """A deep copy of Stripe's example object for `resource` (e.g. "checkout.session", "invoice")."""
    global _resources
    if _resources is None:
        _resources = json.loads(FIXTURES.read_text())["resources"]
    return copy.deepcopy(_resources[resource])


def new_id(prefix: str) -> str:
    return f"{prefix}_test{next(_counter):06d}{secrets.token_hex(6)}"


def now() -> int:
    return int(time.time())


def merge(base: dict, patch: dict) -> dict:
    """Recursive dict update: nested dicts are merged, anything else (including None and lists) replaces."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and value:
            merge(base[key], value)
        else:
            base[key] = value
    return base


# --- objects --------------------------------------------------------------------------------------------------------


def checkout_session(**patch: Any) -> dict:
    """A completed, paid, payment-mode session of 100.00 USD without tax, with its own PaymentIntent and no customer."""
    obj = fixture("checkout.session")
    merge(
        obj,
        {
            "id": new_id("cs"),
            "status": "complete",
            "payment_status": "paid",
            "mode": "payment",
            "currency": "usd",
            "amount_subtotal": 10000,
            "amount_total": 10000,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "shipping_cost": None,
            "currency_conversion": None,
            "payment_intent": new_id("pi"),
            "customer": None,
            "customer_details": {"email": "buyer@example.org"},
            "subscription": None,
            "invoice": None,
            "client_reference_id": None,
            "created": now(),
        },
    )
    merge(obj, patch)
    if obj["mode"] != "payment" and "payment_intent" not in patch:
        obj["payment_intent"] = None
    return obj


def payment_intent(**patch: Any) -> dict:
    """A succeeded PaymentIntent of 100.00 USD with a charge."""
    obj = fixture("payment_intent")
    pid = patch.get("id") or new_id("pi")
    merge(
        obj,
        {
            "id": pid,
            "client_secret": f"{pid}_secret_test",
            "status": "succeeded",
            "amount": 10000,
            "amount_received": 10000,
            "currency": "usd",
            "latest_charge": new_id("ch"),
            "last_payment_error": None,
            "next_action": None,
            "canceled_at": None,
            "processing": None,
            "transfer_data": None,
            "created": now(),
        },
    )
    return merge(obj, patch)


def customer(**patch: Any) -> dict:
    obj = fixture("customer")
    merge(obj, {"id": new_id("cus"), "email": "buyer@example.org", "discount": None, "created": now()})
    return merge(obj, patch)


def subscription(**patch: Any) -> dict:
    obj = fixture("subscription")
    merge(
        obj,
        {
            "id": new_id("sub"),
            "status": "active",
            "created": now(),
            "start_date": now(),
            "ended_at": None,
            "canceled_at": None,
            "cancel_at": None,
            "trial_end": None,
            "trial_start": None,
        },
    )
    return merge(obj, patch)


def invoice(
    *,
    shape: str = "new",
    subscription: str | None = None,
    payment_intent: str | None = None,
    charge: str | None = None,
    tax: int = 0,
    **patch: Any,
) -> dict:
    """A paid subscription invoice of 100.00 USD.

    shape="new" (API 2025-03-31 and later): the subscription is at `parent.subscription_details.subscription`, tax in
    `total_taxes`, and no `payment_intent`/`charge` (those travel in `invoice_payment` objects). shape="old": top-level
    `subscription`, `payment_intent`, `charge` and `tax`.
    """
    obj = fixture("invoice")
    subscription = new_id("sub") if subscription is None else subscription or None  # "" builds a one-off invoice
    paid_at = patch.pop("paid_at", None) or now()
    amount = patch.get("amount_paid", 10000)
    merge(
        obj,
        {
            "id": new_id("in"),
            "status": "paid",
            "paid": True,
            "billing_reason": "subscription_cycle",
            "amount_due": amount,
            "amount_paid": amount,
            "amount_remaining": 0,
            "amount_overpaid": 0,
            "total": amount,
            "subtotal": amount - tax,
            "currency": "usd",
            "customer_email": "buyer@example.org",
            "shipping_cost": None,
            "last_finalization_error": None,
            "from_invoice": None,
            "status_transitions": {"paid_at": paid_at, "finalized_at": paid_at},
            "created": paid_at,
        },
    )
    obj.pop("subscription", None)
    if shape == "new":
        obj["parent"] = {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription},
        }
        obj["total_taxes"] = (
            [
                {
                    "amount": tax,
                    "tax_behavior": "exclusive",
                    "taxability_reason": "standard_rated",
                    "taxable_amount": amount - tax,
                    "type": "tax_rate_details",
                }
            ]
            if tax
            else []
        )
    elif shape == "old":
        obj.pop("parent", None)
        obj.pop("total_taxes", None)
        obj.update(subscription=subscription, payment_intent=payment_intent, charge=charge, tax=tax or None)
    else:
        raise ValueError("shape is 'new' or 'old'")
    return merge(obj, patch)


def invoice_line(*, amount: int, product: str, price: str, discount: int = 0, shape: str = "new", **patch: Any) -> dict:
    """An invoice's line item: in `pricing.price_details` (shape "new", API 2025-03-31 and later) or `price` ("old")."""
    obj = fixture("line_item")
    merge(
        obj,
        {
            "id": new_id("il"),
            "amount": amount,
            "discount_amounts": [{"amount": discount, "discount": new_id("di")}] if discount else [],
            "parent": {"type": "subscription_item_details", "invoice_item_details": None},
        },
    )
    if shape == "new":
        obj["pricing"] = {"type": "price_details", "price_details": {"price": price, "product": product}}
    else:
        obj.pop("pricing", None)
        obj["price"] = {"id": price, "object": "price", "product": product}
    return merge(obj, patch)


def checkout_item(*, amount: int, product: str, price: str, discount: int = 0, tax: int = 0, **patch: Any) -> dict:
    """A Checkout Session's line item (an `item`), as GET /v1/checkout/sessions/<id>/line_items lists it."""
    obj = fixture("item")
    merge(
        obj,
        {
            "id": new_id("li"),
            "amount_subtotal": amount,
            "amount_discount": discount,
            "amount_tax": tax,
            "amount_total": amount - discount + tax,
            "price": {"id": price, "product": product},
        },
    )
    return merge(obj, patch)


def invoice_payment(*, invoice: str, payment_intent: str, amount: int = 10000, **patch: Any) -> dict:
    """The link (API 2025-03-31 and later) between an invoice and the PaymentIntent that paid it."""
    obj = fixture("invoice_payment")
    merge(
        obj,
        {
            "id": new_id("inpay"),
            "invoice": invoice,
            "amount_paid": amount,
            "amount_requested": amount,
            "currency": "usd",
            "status": "paid",
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": payment_intent},
            "status_transitions": {"paid_at": now(), "canceled_at": None},
        },
    )
    return merge(obj, patch)


def charge(**patch: Any) -> dict:
    """A captured charge of 100.00 USD; pass `payment_intent`, and `amount_refunded` for refunds."""
    obj = fixture("charge")
    merge(
        obj,
        {
            "id": new_id("ch"),
            "amount": 10000,
            "amount_captured": 10000,
            "captured": True,
            "paid": True,
            "status": "succeeded",
            "currency": "usd",
            "created": now(),
            "source": None,
        },
    )
    obj = merge(obj, patch)
    obj["refunded"] = obj["amount_refunded"] >= obj["amount"] > 0
    return obj


def dispute(*, charge: str, payment_intent: str | None = None, status: str = "needs_response", **patch: Any) -> dict:
    obj = fixture("dispute")
    merge(
        obj,
        {
            "id": new_id("dp"),
            "charge": charge,
            "payment_intent": payment_intent,
            "status": status,
            "amount": 10000,
            "currency": "usd",
            "created": now(),
        },
    )
    return merge(obj, patch)


def coupon(**patch: Any) -> dict:
    """20% off, forever."""
    obj = fixture("coupon")
    merge(
        obj,
        {
            "id": new_id("coupon").removeprefix("coupon_"),
            "percent_off": 20,
            "name": "20% off",
            "duration": "forever",
            "duration_in_months": None,
            "redeem_by": None,
            "created": now(),
        },
    )
    return merge(obj, patch)


def promotion_code(*, code: str, coupon: str | None = None, **patch: Any) -> dict:
    """An active promotion code for `coupon` (API 2025-09-30 and later name it at `promotion.coupon`)."""
    obj = fixture("promotion_code")
    merge(
        obj,
        {
            "id": new_id("promo"),
            "code": code,
            "active": True,
            "expires_at": None,
            "created": now(),
            "promotion": {"type": "coupon", "coupon": coupon or new_id("coupon").removeprefix("coupon_")},
        },
    )
    return merge(obj, patch)


def discount(*, promotion_code: str | None, coupon: str | None = None, customer: str | None = None, **patch) -> dict:
    """A `di_` discount: one application of a coupon or promotion code to a customer, invoice or subscription."""
    obj = fixture("discount")
    merge(
        obj,
        {
            "id": new_id("di"),
            "promotion_code": promotion_code,
            "customer": customer,
            "start": now(),
            "end": None,
            "source": {"type": "coupon", "coupon": coupon or new_id("coupon").removeprefix("coupon_")},
        },
    )
    return merge(obj, patch)


# --- events ---------------------------------------------------------------------------------------------------------


def make_event(
    type: str,
    obj: dict,
    *,
    account: str | None,
    id: str | None = None,
    created: int | None = None,
    livemode: bool = False,
) -> dict:
    """A Connect event envelope around `obj`; `account` names the merchant (Merchant.stripe_account_id)."""
    fixture_event = fixture("event")
    event = {
        "id": id or new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created or now(),
        "data": {"object": obj},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": fixture_event["request"],
        "type": type,
    }
    if account is not None:
        event["account"] = account
    return event


def sign(body: str | bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header for `body`, as Stripe computes it."""
    if isinstance(body, bytes):
        body = body.decode()
    return stripe.WebhookSignature.generate_signature_header(
        body, secret or settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
    )


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def post_event(
    client_or_url,
    event: dict | bytes,
    *,
    signature: str | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    process: bool = True,
):
    """Signs and posts `event` to the webhook.

    `client_or_url` is Django's test client (returns its response) or a base URL such as `live_server.url`
    (returns `(status, body_bytes)`). `signature` overrides the header (pass "" to send none). With the test client
    inside a test's transaction, on-commit callbacks never fire by themselves; `process=True` runs them (the
    enqueued processing task, eager in tests) as a real commit would; `process=False` leaves them to the caller.
    """
    body = event if isinstance(event, bytes) else encode(event)
    header = sign(body, secret=secret, timestamp=timestamp) if signature is None else signature
    if isinstance(client_or_url, str):
        request = urllib.request.Request(
            client_or_url.rstrip("/") + WEBHOOK_PATH,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
    extra = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
    if not process:
        return client_or_url.post(WEBHOOK_PATH, data=body, content_type="application/json", **extra)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client_or_url.post(WEBHOOK_PATH, data=body, content_type="application/json", **extra)
