"""Drainer slots (stripe_integration/slots.py): held while a drainer lives, however long it works, free within
seconds once it is gone, and never freed or renewed by a drainer they no longer belong to."""

import time

import pytest
from django.core.cache import cache

from stripe_integration import slots
from stripe_integration.drainers import drain
from stripe_integration.models import StripeEvent
from stripe_integration.slots import SLOT_KEY, SLOT_TTL, Holding
from tests.stripe_integration.test_drainers import post_checkouts, slot_keys, statuses

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def free_slots():
    cache.delete_many(slot_keys())
    yield
    cache.delete_many(slot_keys())


def test_a_live_drainer_keeps_its_slot_past_the_ttl_and_frees_it_when_done():
    """Its heartbeat renews the slot, however long one event takes; a dead drainer's expires SLOT_TTL after its last
    heartbeat (test_drainer_takeover.py)."""
    token = slots.new_token()
    assert slots.take_free(token) == 0
    with Holding(0, token):
        time.sleep(SLOT_TTL + 1.5)
        assert cache.get(SLOT_KEY.format(0)) == token
    assert cache.get(SLOT_KEY.format(0)) is None


def test_a_drainer_whose_slot_another_drainer_holds_leaves_it_and_its_events_alone(client, merchant):
    """A drain task that comes late (redelivered, or queued longer than its slot lived) finds the slot taken by a
    newer drainer: it processes nothing and neither frees nor renews that drainer's slot."""
    stale, current = slots.new_token(), slots.new_token()
    cache.set(SLOT_KEY.format(0), current, 60)
    for key in slot_keys()[1:]:
        cache.set(key, 1, 60)
    post_checkouts(client, merchant, [1000, 2000])

    assert drain(0, stale) == 0

    assert statuses(merchant) == {StripeEvent.Status.PENDING: 2}  # left to the drainer that holds the slot
    assert cache.get(SLOT_KEY.format(0)) == current
    slots.free(0, stale)
    assert slots.renew(0, stale) is False
    assert cache.get(SLOT_KEY.format(0)) == current


def test_a_drain_message_of_an_earlier_version_adopts_the_slot_its_asker_took(client, merchant):
    """Messages queued before tokens existed carry only the slot, which their asker set to 1: they still drain, and
    give the slot back."""
    for key in slot_keys():
        cache.set(key, 1, 60)
    post_checkouts(client, merchant, [1000, 2000, 3000])

    assert drain(0) == 3

    assert statuses(merchant) == {StripeEvent.Status.PROCESSED: 3}
    assert cache.get(SLOT_KEY.format(0)) is None
    assert all(cache.get(key) == 1 for key in slot_keys()[1:])
