"""The event types Afficone handles are declared once, on the handlers (stripe_integration/services/handlers/): the
webhook processes exactly those, README tells the operator to subscribe the endpoint to exactly those, and no
handler module is left out of the table."""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from stripe_integration.models import StripeEvent
from stripe_integration.services import HANDLERS, MAY_WAIT, WEBHOOK_EVENT_TYPES, handlers
from stripe_integration.services.handlers.registry import declared
from tests.stripe_events import (
    charge,
    checkout_session,
    customer,
    dispute,
    invoice,
    invoice_payment,
    make_event,
    new_id,
    payment_intent,
    post_event,
    subscription,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def stripe_object(event_type: str) -> dict:
    """A Stripe object of the kind `event_type` carries (KeyError for a kind this test does not know yet)."""
    builders = {
        "checkout.session": checkout_session,
        "payment_intent": payment_intent,
        "customer.subscription": subscription,
        "customer": customer,
        "invoice_payment": lambda: invoice_payment(invoice=new_id("in"), payment_intent=new_id("pi")),
        "invoice": invoice,
        "charge.dispute": lambda: dispute(charge=new_id("ch")),
        "charge": lambda: charge(payment_intent=new_id("pi"), amount_refunded=10000),
        "account.application": lambda: {"id": new_id("ca"), "object": "application", "name": "Afficone"},
    }
    kind = next(kind for kind in builders if event_type.startswith(kind + "."))
    return builders[kind]()


def readme_event_types() -> list[str]:
    text = README.read_text()
    start = text.index("**Events to subscribe to.**")
    bullet = text[start : text.index("\n- ", start)]
    return [name for name in re.findall(r"`([a-z_.]+)`", bullet) if not name.startswith("stripe_integration.")]


def test_readme_names_exactly_the_declared_event_types():
    assert sorted(readme_event_types()) == sorted(WEBHOOK_EVENT_TYPES)
    assert len(set(WEBHOOK_EVENT_TYPES)) == len(WEBHOOK_EVENT_TYPES) == len(HANDLERS)


def test_every_handler_module_is_in_the_table():
    """A handler module that handlers/__init__.py forgot to import would declare its handlers only when something
    else imported it: importing every module of the package must not declare anything the table lacks."""
    for module in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"{handlers.__name__}.{module.name}")
    assert {handler.function for handler in declared()} == set(HANDLERS.values())
    assert set(HANDLERS.values()) >= MAY_WAIT


@pytest.mark.django_db
@pytest.mark.parametrize("event_type", WEBHOOK_EVENT_TYPES)
def test_every_declared_event_type_is_processed_by_its_handler(client, merchant, event_type):
    """Posted signed through the webhook, an event of a declared type is handled (processed, or waiting for what it
    needs), never ignored as a type without handler."""
    event = make_event(event_type, stripe_object(event_type), account=merchant.stripe_account_id)
    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.WAITING), stored.error
    assert stored.error == ""


@pytest.mark.django_db
@pytest.mark.parametrize("event_type", ["plan.created", "charge.succeeded", "invoice.created", "customer.deleted"])
def test_an_event_type_nobody_declared_is_stored_and_ignored(client, merchant, event_type):
    obj = {"id": new_id("obj"), "object": event_type.split(".")[0]}
    event = make_event(event_type, obj, account=merchant.stripe_account_id)
    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert (stored.merchant, stored.status) == (merchant, StripeEvent.Status.IGNORED)
