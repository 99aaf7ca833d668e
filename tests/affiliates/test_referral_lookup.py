"""`referral_with_program`, the hand-written join every payment runs, reads exactly what the ORM reads."""

import pytest

from affiliates.models import Referral
from affiliates.queries import referral_with_program
from tests.factories import ReferralFactory

pytestmark = pytest.mark.django_db


def values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_join_reads_what_the_orm_reads(merchant, affiliate, other_merchant):
    referral = ReferralFactory(affiliate=affiliate, stripe_customer_id="cus_join")
    orm = Referral.objects.select_related("affiliate__program").get(pk=referral.pk)

    for found in (
        referral_with_program(merchant.pk, rid=referral.rid),
        referral_with_program(merchant.pk, stripe_customer_id="cus_join"),
    ):
        # Same values and types (aware datetimes, UUIDs) on every backend, relations loaded.
        assert values(found) == values(orm)
        assert values(found.affiliate) == values(orm.affiliate)
        assert values(found.affiliate.program) == values(orm.affiliate.program)
        assert found.created_at.tzinfo is not None

    assert referral_with_program(other_merchant.pk, rid=referral.rid) is None  # another tenant's id: nothing
    assert referral_with_program(merchant.pk, rid="nobody") is None
