"""`python manage.py seed_demo`: a demo merchant to click around in, once.

Demo Coffee Co. (owner demo@afficone.test), its default program, five
affiliates (one pending), six weeks of clicks, referrals and commissions
written through the same services the webhook uses, a partial refund, and a
payout batch with one payout paid. Idempotent: when the demo merchant exists
it changes nothing and prints the same logins.
"""

import logging
import random
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from affiliates import services as affiliate_services
from affiliates.links import referral_link
from affiliates.models import Affiliate, Commission, Payout, Referral, new_referral_id
from affiliates.onboarding import create_merchant
from tenants.models import Merchant
from tenants.users import create_user, user_with_email
from tracking.models import Click
from tracking.rollups import rollup_daily_stats

DEMO_SLUG = "demo-coffee-co"  # tracking's demo shop looks the merchant up by this slug
DEMO_NAME = "Demo Coffee Co."
DEMO_OWNER = "demo@afficone.test"
DEMO_PASSWORD = "afficone-demo"  # a demo account on a development machine, printed on purpose
DEMO_STRIPE_ACCOUNT = "acct_1DemoCoffeeCo000"
DAYS = 42

# (name, email, code, status, daily click range, whether they get a portal login)
AFFILIATES = [
    ("Maya Chen", "maya@afficone.test", "maya", Affiliate.Status.APPROVED, (4, 12), True),
    ("Leo Brooks", "leo@afficone.test", "leo-brews", Affiliate.Status.APPROVED, (2, 8), False),
    ("Priya Natarajan", "priya@afficone.test", "priya", Affiliate.Status.APPROVED, (1, 5), False),
    ("The Coffee Nerd (blog)", "hello@coffeenerd.test", "coffeenerd", Affiliate.Status.APPROVED, (0, 4), False),
    ("Sam Ortiz", "sam@afficone.test", "sam", Affiliate.Status.PENDING, (0, 0), False),
]
PRODUCTS = [  # (price in cents, subscription?)
    (1800, False),  # a bag of beans
    (2400, True),  # monthly beans subscription
    (4500, False),  # grinder
    (12900, False),  # pour-over kit
]
PAGES = ["/", "/beans/ethiopia-guji", "/subscribe", "/gear/grinder"]
REFERRERS = ["https://www.instagram.com/", "https://www.youtube.com/", "https://coffeenerd.test/best-beans", ""]
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def _url(name: str, fallback: str, **kwargs) -> str:
    try:
        return settings.SITE_URL + reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return settings.SITE_URL + fallback


class Command(BaseCommand):
    help = "Seeds the demo merchant Demo Coffee Co. with affiliates, clicks, commissions and a payout (idempotent)."

    def handle(self, *args, **options):
        self.stdout.write(f"Demo login: {DEMO_OWNER} / {DEMO_PASSWORD}")
        if Merchant.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("The demo merchant already exists; nothing changed.")
        else:
            # The demo's notification emails (new commission, payout sent) go nowhere, quietly.
            logging.getLogger("celery").setLevel(logging.WARNING)
            logging.getLogger("kombu").setLevel(logging.ERROR)  # the in-memory broker has no host name
            with (
                override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
                transaction.atomic(),
            ):
                merchant = self.seed()
            self.stdout.write(self.style.SUCCESS(f"Seeded {merchant.name}: {self.summary(merchant)}."))
        self.stdout.write(f"Affiliate portal login (Maya): maya@afficone.test / {DEMO_PASSWORD}")
        self.stdout.write(f"Dashboard:        {_url('tenants:login', '/login/')}")
        self.stdout.write(
            f"Affiliate portal: {_url('affiliates:portal_dashboard', f'/p/{DEMO_SLUG}/', slug=DEMO_SLUG)}"
        )
        self.stdout.write(f"Demo shop:        {_url('tracking:demo_shop', '/demo/shop/')}")

    def seed(self) -> Merchant:
        rng = random.Random(20240601)
        now = timezone.now()
        merchant, owner = create_merchant(
            name=DEMO_NAME, owner_email=DEMO_OWNER, password=DEMO_PASSWORD, stripe_account_id=DEMO_STRIPE_ACCOUNT
        )
        assert merchant.slug == DEMO_SLUG, f"the slug {DEMO_SLUG!r} is taken by another merchant"
        Merchant.objects.filter(pk=merchant.pk).update(
            stripe_account_name=DEMO_NAME,
            website=_url("tracking:demo_shop", "/demo/shop/"),
            stripe_connected_at=now - timedelta(days=DAYS + 3),
            created_at=now - timedelta(days=DAYS + 3),
        )
        affiliates = []
        for name, email, code, status, clicks_per_day, has_login in AFFILIATES:
            user = None
            if has_login:
                user = user_with_email(email) or create_user(email=email, password=DEMO_PASSWORD, name=name)
            affiliate = affiliate_services.create_affiliate(
                merchant, email=email, name=name, code=code, status=status, user=user
            )
            joined = now - timedelta(days=DAYS + 1 if status == Affiliate.Status.APPROVED else 2)
            Affiliate.objects.filter(pk=affiliate.pk).update(
                created_at=joined, approved_at=joined if status == Affiliate.Status.APPROVED else None
            )
            affiliates.append((affiliate, clicks_per_day))

        visits = sorted(
            (now - timedelta(days=day, seconds=rng.randint(0, 86_399)), affiliate)
            for day in range(DAYS, 0, -1)
            for affiliate, (low, high) in affiliates
            for _ in range(rng.randint(low, high))
        )
        referrals = self.clicks(merchant, visits, rng)
        sale = 0
        for referral, (clicked_at, _) in zip(referrals, visits, strict=True):
            if rng.random() < 0.09:
                sale += 1
                self.buy(referral, clicked_at + timedelta(minutes=rng.randint(3, 600)), sale, rng, now)

        # A customer sent a grinder back: half of that payment was refunded.
        refunded = Commission.objects.for_merchant(merchant).filter(base_amount=4500).order_by("created_at").first()
        if refunded is not None:
            affiliate_services.apply_refund(refunded, refunded_amount=2250)
        affiliate_services.approve_due_commissions(now=now)
        batch = affiliate_services.create_payout_batch(merchant, created_by=owner)
        if batch is not None:
            first = Payout.objects.for_merchant(merchant).filter(batch=batch).order_by("-amount").first()
            affiliate_services.mark_payout_paid(first, reference="PAYPAL-DEMO-0001")
        # The dashboard's daily rollups, so past days show at once (the beat task keeps them fresh).
        rollup_daily_stats(full=True, now=now)
        return merchant

    def clicks(self, merchant: Merchant, visits: list, rng: random.Random) -> list[Referral]:
        """One click and one referral per visit, as the tracker stores them (last click wins), in bulk."""
        referrals = Referral.objects.bulk_create(
            [Referral(merchant=merchant, affiliate=affiliate, rid=new_referral_id()) for _, affiliate in visits]
        )
        for referral, (at, _) in zip(referrals, visits, strict=True):
            referral.created_at = at  # auto_now_add stamped them now; bulk_update writes the visit's time
        Referral.objects.bulk_update(referrals, ["created_at"], batch_size=500)
        Click.objects.bulk_create(
            [
                Click(
                    merchant=merchant,
                    affiliate=affiliate,
                    referral=referral,
                    landing_url=referral_link(f"https://demo-coffee.test{rng.choice(PAGES)}", affiliate.code),
                    referrer=rng.choice(REFERRERS),
                    user_agent=USER_AGENT,
                    ip_hash=secrets.token_hex(16),
                    created_at=at,
                    token=secrets.token_hex(12),
                )
                for referral, (at, affiliate) in zip(referrals, visits, strict=True)
            ],
            batch_size=500,
        )
        return referrals

    def buy(self, referral: Referral, paid_at, sale: int, rng: random.Random, now) -> None:
        price, subscription = rng.choice(PRODUCTS)
        customer = f"cus_Demo{sale:06d}"
        Referral.objects.filter(pk=referral.pk).update(
            stripe_customer_id=customer,
            customer_email=f"customer{sale}@example.com",
            stripe_subscription_id=f"sub_Demo{sale:06d}" if subscription else "",
        )
        referral.refresh_from_db()
        payments = [paid_at]
        while subscription and payments[-1] + timedelta(days=30) < now:
            payments.append(payments[-1] + timedelta(days=30))
        for n, at in enumerate(payments):
            source = f"in_Demo{sale:06d}{n:02d}" if subscription else f"pi_Demo{sale:06d}"
            commission, _ = affiliate_services.record_commission(
                referral,
                source_type=Commission.SourceType.INVOICE if subscription else Commission.SourceType.PAYMENT_INTENT,
                source_id=source,
                base_amount=price,
                currency="usd",
                paid_at=at,
                customer_email=f"customer{sale}@example.com",
                is_recurring=n > 0,
                stripe_invoice_id=source if subscription else "",
                stripe_payment_intent_id="" if subscription else source,
            )
            if commission is not None:
                # Written now, dated when the payment happened.
                Commission.objects.filter(pk=commission.pk).update(
                    created_at=at, hold_until=at + timedelta(days=referral.affiliate.program.hold_days)
                )
        Referral.objects.filter(pk=referral.pk).update(converted_at=paid_at, first_payment_at=paid_at)

    def summary(self, merchant: Merchant) -> str:
        return (
            f"{Affiliate.objects.for_merchant(merchant).count()} affiliates, "
            f"{Click.objects.for_merchant(merchant).count()} clicks, "
            f"{Commission.objects.for_merchant(merchant).count()} commissions, "
            f"{Payout.objects.for_merchant(merchant).count()} payouts"
        )
