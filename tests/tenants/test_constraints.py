"""The database itself refuses what must never happen, whatever code path writes."""

import pytest
from django.db import IntegrityError, transaction

from affiliates.models import Affiliate, Commission
from tenants.models import Merchant
from tests.factories import AffiliateFactory, CommissionFactory, MerchantFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def create_affiliate(merchant: Merchant, code: str, email: str) -> Affiliate:
    return Affiliate.objects.create(
        merchant=merchant, program=merchant.programs.get(is_default=True), code=code, email=email
    )


def test_duplicate_affiliate_code_in_one_tenant_is_refused(merchant):
    create_affiliate(merchant, "alice", "a1@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        create_affiliate(merchant, "alice", "a2@example.com")
    assert Affiliate.objects.filter(merchant=merchant, code="alice").count() == 1


def test_the_same_code_in_two_tenants_is_fine(merchant, other_merchant):
    create_affiliate(merchant, "alice", "a@example.com")
    create_affiliate(other_merchant, "alice", "a@example.com")
    assert Affiliate.objects.filter(code="alice").count() == 2


@pytest.mark.parametrize("code", ["has space", "semi;colon", "", "é", "a/b", "50%"])
def test_a_code_outside_the_allowed_pattern_is_refused_by_the_database(merchant, code):
    with pytest.raises(IntegrityError), transaction.atomic():
        create_affiliate(merchant, code, "bad@example.com")
    assert not Affiliate.objects.filter(merchant=merchant).exists()


def test_duplicate_commission_source_in_one_tenant_is_refused(merchant):
    referral = ReferralFactory(affiliate=AffiliateFactory(merchant=merchant))
    CommissionFactory(referral=referral, source_id="pi_3MtwBwLkdIwHu7ix28a3tqPa")
    with pytest.raises(IntegrityError), transaction.atomic():
        CommissionFactory(referral=referral, source_id="pi_3MtwBwLkdIwHu7ix28a3tqPa")
    assert Commission.objects.filter(source_id="pi_3MtwBwLkdIwHu7ix28a3tqPa").count() == 1


def test_the_same_stripe_source_in_two_tenants_is_two_commissions(merchant):
    other = MerchantFactory()
    for tenant in (merchant, other):
        CommissionFactory(referral=ReferralFactory(affiliate=AffiliateFactory(merchant=tenant)), source_id="in_1Shared")
    assert Commission.objects.filter(source_id="in_1Shared").count() == 2


def test_a_stripe_account_belongs_to_one_merchant(merchant):
    with pytest.raises(IntegrityError), transaction.atomic():
        MerchantFactory(stripe_account_id=merchant.stripe_account_id)
