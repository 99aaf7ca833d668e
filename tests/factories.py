"""factory_boy factories; every SubFactory chain ends at a MerchantFactory."""

import factory
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Program, Referral
from tenants.models import Membership, Merchant, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")
    stripe_account_id = factory.Sequence(lambda n: f"acct_test{n:010d}")
    stripe_status = Merchant.StripeStatus.CONNECTED
    stripe_connected_at = factory.LazyFunction(timezone.now)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OWNER


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program
        django_get_or_create = ("merchant", "is_default")

    merchant = factory.SubFactory(MerchantFactory)
    name = "Partner program"
    slug = "affiliates"
    is_default = True


class AffiliateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Affiliate

    merchant = factory.SubFactory(MerchantFactory)
    program = factory.SubFactory(ProgramFactory, merchant=factory.SelfAttribute("..merchant"))
    code = factory.Sequence(lambda n: f"partner{n}")
    email = factory.Sequence(lambda n: f"affiliate{n}@example.net")
    name = factory.Faker("name")
    status = Affiliate.Status.APPROVED
    approved_at = factory.LazyFunction(timezone.now)


class ReferralFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Referral

    affiliate = factory.SubFactory(AffiliateFactory)
    merchant = factory.SelfAttribute("affiliate.merchant")


class CommissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commission

    referral = factory.SubFactory(ReferralFactory)
    affiliate = factory.SelfAttribute("referral.affiliate")
    merchant = factory.SelfAttribute("referral.merchant")
    program = factory.SelfAttribute("affiliate.program")
    amount = 2000
    base_amount = 10000
    currency = "usd"
    source_type = Commission.SourceType.PAYMENT_INTENT
    source_id = factory.Sequence(lambda n: f"pi_test{n:08d}")
    stripe_payment_intent_id = factory.SelfAttribute("source_id")
    rule_source = "program"
    rule_type = "percent"
    rule_bps = 2000
    hold_until = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=30))
