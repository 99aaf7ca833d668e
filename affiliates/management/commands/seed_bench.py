"""Seeds the dashboard benchmark's tenant: by default 1,000,000 clicks, 100,000 referrals, 100,000 commissions.

    python manage.py seed_bench [--clicks N] [--referrals N] [--commissions N] [--affiliates N] [--days N]

On Postgres rows go in with COPY (about a minute for the default size on two
cores); elsewhere with bulk_create. The tenant "Bench Shop" (slug bench-shop)
is replaced on every run; other tenants are untouched. The DailyStat rollup is
rebuilt at the end, as the periodic task would.
"""

import random
import secrets
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Payout, PayoutBatch, Program, Referral
from affiliates.onboarding import create_merchant
from tenants.models import Merchant
from tracking.models import Click
from tracking.rollups import rollup_daily_stats

SLUG = "bench-shop"
EMAIL = "bench@afficone.local"
PASSWORD = "bench-password-123"


class Command(BaseCommand):
    help = "Seeds a tenant with 1M clicks, 100k referrals and 100k commissions for bench/dashboard_*.py."

    def add_arguments(self, parser):
        parser.add_argument("--clicks", type=int, default=1_000_000)
        parser.add_argument("--referrals", type=int, default=100_000)
        parser.add_argument("--commissions", type=int, default=100_000)
        parser.add_argument("--affiliates", type=int, default=1_000)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **o):
        rng = random.Random(o["seed"])
        started = time.monotonic()
        now = timezone.now()
        days = o["days"]
        with transaction.atomic():
            Merchant.objects.filter(slug=SLUG).delete()
            merchant, owner = create_merchant(name="Bench Shop", owner_email=EMAIL, password=PASSWORD)
            if not owner.check_password(PASSWORD):
                owner.set_password(PASSWORD)
                owner.save(update_fields=["password"])
            Merchant.objects.filter(pk=merchant.pk).update(
                slug=SLUG, website="https://bench-shop.test", created_at=now - timedelta(days=days)
            )
            merchant.refresh_from_db()
            program = Program.objects.get(merchant=merchant, is_default=True)
            Program.objects.filter(pk=program.pk).update(reviewed_at=now)

            affiliates = Affiliate.objects.bulk_create(
                [
                    Affiliate(
                        merchant=merchant,
                        program=program,
                        code=f"bench{i}",
                        email=f"bench{i}@affiliates.test",
                        name=f"Affiliate {i}",
                        status=Affiliate.Status.APPROVED,
                        approved_at=now,
                        paypal_email=f"bench{i}@paypal.test",
                    )
                    for i in range(o["affiliates"])
                ]
            )
            if connection.vendor != "postgresql":  # bulk_create returns no ids on some backends
                affiliates = list(Affiliate.objects.filter(merchant=merchant).order_by("pk"))
            aff_ids = [a.pk for a in affiliates]
            # A few affiliates bring most of the traffic, as in real programs.
            weights = [1 / (i + 1) ** 0.8 for i in range(len(aff_ids))]

            def moment():
                return now - timedelta(seconds=rng.random() * days * 86400)

            self.stdout.write(f"referrals: {o['referrals']:,} (at {time.monotonic() - started:.0f} s)")
            referral_rows = []
            for aff in rng.choices(aff_ids, weights, k=o["referrals"]):
                created = moment()
                converted = created + timedelta(hours=rng.random() * 48) if rng.random() < 0.3 else None
                if converted and converted > now:
                    converted = now
                referral_rows.append((merchant.pk, aff, secrets.token_urlsafe(16), created, converted))
            self._insert(
                Referral,
                [
                    "merchant_id",
                    "affiliate_id",
                    "rid",
                    "created_at",
                    "converted_at",
                    "stripe_customer_id",
                    "stripe_subscription_id",
                    "customer_email",
                ],
                [
                    (m, a, rid, c, conv, f"cus_b{i:09d}" if conv else None, "", "")
                    for i, (m, a, rid, c, conv) in enumerate(referral_rows)
                ],
            )
            referrals = list(
                Referral.objects.filter(merchant=merchant).values_list(
                    "pk", "affiliate_id", "created_at", "converted_at"
                )
            )
            converted = [r for r in referrals if r[3] is not None] or referrals

            self.stdout.write(f"clicks: {o['clicks']:,} (at {time.monotonic() - started:.0f} s)")
            click_rows = []
            for _ in range(o["clicks"]):
                ref = referrals[rng.randrange(len(referrals))] if rng.random() < 0.5 else None
                aff = ref[1] if ref else aff_ids[rng.randrange(len(aff_ids))]
                created = ref[2] if ref else moment()
                click_rows.append(
                    (
                        merchant.pk,
                        aff,
                        ref[0] if ref else None,
                        "https://bench-shop.test/pricing",
                        "",
                        "Mozilla/5.0",
                        "",
                        created,
                    )
                )
                if len(click_rows) == 200_000:
                    self._insert(
                        Click,
                        [
                            "merchant_id",
                            "affiliate_id",
                            "referral_id",
                            "landing_url",
                            "referrer",
                            "user_agent",
                            "ip_hash",
                            "created_at",
                        ],
                        click_rows,
                    )
                    click_rows = []
            if click_rows:
                self._insert(
                    Click,
                    [
                        "merchant_id",
                        "affiliate_id",
                        "referral_id",
                        "landing_url",
                        "referrer",
                        "user_agent",
                        "ip_hash",
                        "created_at",
                    ],
                    click_rows,
                )

            self.stdout.write(f"commissions: {o['commissions']:,} (at {time.monotonic() - started:.0f} s)")
            commission_rows = []
            statuses = [("approved", 0.5), ("paid", 0.25), ("pending", 0.2), ("voided", 0.05)]
            for i in range(o["commissions"]):
                ref_id, aff, _, conv = converted[rng.randrange(len(converted))]
                created = (conv or now) + timedelta(days=30 * rng.randrange(0, 12), seconds=rng.random() * 86400)
                if created > now:  # a renewal that has not happened yet: spread it over the past year instead
                    created = moment()
                status = rng.choices([s for s, _ in statuses], [w for _, w in statuses])[0]
                if (now - created).days < 30:
                    status = "pending" if status != "voided" else status
                currency = "eur" if rng.random() < 0.1 else "usd"
                base = rng.choice([1900, 4900, 9900, 19900, 49900])
                amount = 0 if status == "voided" else base // 5
                commission_rows.append(
                    (
                        merchant.pk,
                        secrets.token_hex(16),
                        aff,
                        ref_id,
                        status,
                        amount,
                        0,
                        currency,
                        base,
                        0,
                        "invoice",
                        f"in_bench{i:09d}",
                        "",
                        "",
                        "",
                        "program",
                        "percent",
                        2000,
                        None,
                        i % 3 != 0,
                        False,
                        False,
                        created + timedelta(days=30),
                        created,
                        created + timedelta(days=30) if status in ("approved", "paid") else None,
                        created + timedelta(days=40) if status == "paid" else None,
                        created if status == "voided" else None,
                        "Payment refunded in full." if status == "voided" else "",
                        None,
                        amount if status == "paid" else 0,
                    )
                )
            columns = [
                "merchant_id",
                "public_id",
                "affiliate_id",
                "referral_id",
                "status",
                "amount",
                "reversed_amount",
                "currency",
                "base_amount",
                "refunded_amount",
                "source_type",
                "source_id",
                "stripe_payment_intent_id",
                "stripe_charge_id",
                "stripe_invoice_id",
                "rule_source",
                "rule_type",
                "rule_bps",
                "rule_amount",
                "is_recurring",
                "is_self_referral",
                "is_on_hold",
                "hold_until",
                "created_at",
                "approved_at",
                "paid_at",
                "voided_at",
                "void_reason",
                "payout_id",
                "paid_amount",
            ]
            self._insert(Commission, columns, commission_rows)

            # Paid commissions belong to paid payouts whose totals equal their sums (one batch).
            batch = PayoutBatch.objects.create(merchant=merchant, created_by=owner)
            sums: dict = {}
            for aff, currency, amount in Commission.objects.filter(merchant=merchant, status="paid").values_list(
                "affiliate_id", "currency", "amount"
            ):
                sums[(aff, currency)] = sums.get((aff, currency), 0) + amount
            payouts = Payout.objects.bulk_create(
                [
                    Payout(
                        merchant=merchant,
                        batch=batch,
                        affiliate_id=aff,
                        currency=cur,
                        amount=total,
                        status="paid",
                        paid_at=now,
                        reference="BENCH",
                    )
                    for (aff, cur), total in sums.items()
                    if total > 0
                ]
            )
            if connection.vendor != "postgresql":
                payouts = list(Payout.objects.filter(batch=batch))
            for payout in payouts:
                Commission.objects.filter(
                    merchant=merchant, status="paid", affiliate_id=payout.affiliate_id, currency=payout.currency
                ).update(payout=payout)

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for table in ("tracking_click", "affiliates_referral", "affiliates_commission", "affiliates_affiliate"):
                    cursor.execute(f"VACUUM ANALYZE {table}")
        self.stdout.write(f"rollup (at {time.monotonic() - started:.0f} s)")
        written = rollup_daily_stats(full=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {merchant.name} ({SLUG}) in {time.monotonic() - started:.0f} s: {o['clicks']:,} clicks, "
                f"{o['referrals']:,} referrals, {o['commissions']:,} commissions, {len(aff_ids):,} affiliates, "
                f"{len(payouts):,} payouts; {written:,} DailyStat rows. Log in as {EMAIL} / {PASSWORD}."
            )
        )

    def _insert(self, model, columns, rows):
        if not rows:
            return
        if connection.vendor == "postgresql":
            sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
            with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=2000)
