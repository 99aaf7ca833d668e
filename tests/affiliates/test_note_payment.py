"""The referral's per-payment UPDATE, written by hand for the worker's sake (bench/note_payment.py), sets what the
ORM's single statement (Least and Coalesce in `.update()`) sets, on Postgres and on SQLite."""

from datetime import timedelta

import pytest
from django.db.models import Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from affiliates.models import Referral
from affiliates.services.commissions import _note_payment
from tests.factories import ReferralFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
EARLIER, LATER = NOW - timedelta(days=40), NOW - timedelta(days=3)


@pytest.mark.parametrize("first_payment_at", [None, EARLIER, LATER])
@pytest.mark.parametrize("converted_at", [None, EARLIER])
@pytest.mark.parametrize("paid_at", [EARLIER + timedelta(days=1), NOW - timedelta(days=60), NOW])
def test_the_hand_written_update_sets_what_the_orms_sets(affiliate, first_payment_at, converted_at, paid_at):
    by_hand, by_orm = (
        ReferralFactory(affiliate=affiliate, first_payment_at=first_payment_at, converted_at=converted_at)
        for _ in range(2)
    )
    _note_payment(by_hand, paid_at=paid_at, now=NOW)
    Referral.objects.filter(pk=by_orm.pk).update(
        first_payment_at=Least(Coalesce("first_payment_at", Value(paid_at)), Value(paid_at)),
        converted_at=Coalesce("converted_at", Value(NOW)),
    )
    by_hand.refresh_from_db()
    by_orm.refresh_from_db()
    assert (by_hand.first_payment_at, by_hand.converted_at) == (by_orm.first_payment_at, by_orm.converted_at)
    assert by_hand.first_payment_at == min(t for t in (first_payment_at, paid_at) if t is not None)
    assert by_hand.converted_at == (converted_at or NOW)
