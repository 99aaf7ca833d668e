"""The commissions and payouts pages: filters, approving and voiding, CSV exports, batches and marking them paid."""

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Payout
from affiliates.services import create_payout_batch
from tests.factories import AffiliateFactory, CommissionFactory

pytestmark = pytest.mark.django_db


def _approved(affiliate, **kw):
    return CommissionFactory(
        referral__affiliate=affiliate, status=Commission.Status.APPROVED, approved_at=timezone.now(), **kw
    )


def test_commission_list_filters_by_status_affiliate_and_period(merchant_client, merchant, affiliate):
    bob = AffiliateFactory(merchant=merchant, code="bob")
    CommissionFactory(referral__affiliate=affiliate, source_id="pi_a_pending")
    _approved(affiliate, source_id="pi_a_approved")
    CommissionFactory(referral__affiliate=bob, source_id="pi_b_pending")
    old = CommissionFactory(referral__affiliate=affiliate, source_id="pi_a_old")
    Commission.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    def ids(query):
        return sorted(
            c.source_id
            for c in merchant_client.get(reverse("affiliates:commission_list") + query).context["page"].object_list
        )

    assert ids("?status=pending") == ["pi_a_old", "pi_a_pending", "pi_b_pending"]
    assert ids("?affiliate=bob") == ["pi_b_pending"]
    assert ids("?affiliate=alice&period=30d") == ["pi_a_approved", "pi_a_pending"]
    assert ids("?affiliate=nobody") == []


def test_commission_approve_and_void_with_a_reason(merchant_client, affiliate):
    pending = CommissionFactory(referral__affiliate=affiliate)
    other = CommissionFactory(referral__affiliate=affiliate)
    merchant_client.post(reverse("affiliates:commission_approve", kwargs={"code": pending.public_id}))
    pending.refresh_from_db()
    assert pending.status == "approved"

    response = merchant_client.post(
        reverse("affiliates:commission_void", kwargs={"code": other.public_id}), {"reason": ""}, follow=True
    )
    other.refresh_from_db()
    assert other.status == "pending" and "Say why" in response.content.decode()
    merchant_client.post(
        reverse("affiliates:commission_void", kwargs={"code": other.public_id}), {"reason": "Fraudulent order"}
    )
    other.refresh_from_db()
    assert other.status == "voided" and other.void_reason == "Fraudulent order"


def test_commission_csv_export_has_every_filtered_row_and_neutralises_formulas(merchant_client, merchant):
    evil = AffiliateFactory(merchant=merchant, code="evil", email="evil@example.net", name="=HYPERLINK(1)")
    CommissionFactory(referral__affiliate=evil, amount=1234, base_amount=6170, source_id="pi_csv_1")
    response = merchant_client.get(reverse("affiliates:commission_list") + "?format=csv&status=pending")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["id", "created_at", "affiliate_code", "affiliate_email", "status"]
    assert len(rows) == 2 and rows[1][5] == "12.34" and rows[1][8] == "USD" and rows[1][12] == "pi_csv_1"


def test_payout_batch_mark_paid_and_exports_total_equals_commissions(
    merchant_client, merchant, affiliate, django_capture_on_commit_callbacks
):
    Affiliate.objects.filter(pk=affiliate.pk).update(paypal_email="alice@paypal.test")
    for amount in (3000, 2500):
        _approved(affiliate, amount=amount)
    small = AffiliateFactory(merchant=merchant, code="small")
    _approved(small, amount=100)  # below the $50 minimum

    merchant_client.post(reverse("affiliates:payout_batch_create"))
    payout = Payout.objects.get(merchant=merchant)
    assert payout.affiliate == affiliate and payout.amount == 5500
    assert sum(c.net_amount for c in payout.commissions.all()) == payout.amount
    assert not Payout.objects.filter(affiliate=small).exists()

    page = merchant_client.get(reverse("affiliates:payout_list")).content.decode()
    assert "$55.00" in page and "below the minimum" in page
    paypal = b"".join(
        merchant_client.get(
            reverse("affiliates:payout_batch_export", kwargs={"code": payout.batch.public_id, "kind": "paypal"})
        ).streaming_content
    ).decode()
    assert paypal.splitlines()[0].split(",")[:3] == ["alice@paypal.test", "55.00", "USD"]
    generic = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    merchant_client.get(
                        reverse(
                            "affiliates:payout_batch_export", kwargs={"code": payout.batch.public_id, "kind": "generic"}
                        )
                    ).streaming_content
                ).decode()
            )
        )
    )
    assert generic[1][1] == "alice" and generic[1][4] == "55.00"
    assert (
        merchant_client.get(
            reverse("affiliates:payout_batch_export", kwargs={"code": payout.batch.public_id, "kind": "xlsx"})
        ).status_code
        == 404
    )

    with django_capture_on_commit_callbacks(execute=True):
        merchant_client.post(
            reverse("affiliates:payout_mark_paid", kwargs={"code": payout.public_id}), {"reference": "PAYPAL-123"}
        )
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.reference == "PAYPAL-123"
    assert set(payout.commissions.values_list("status", flat=True)) == {"paid"}
    assert [m.to for m in mail.outbox] == [[affiliate.email]] and "$55.00" in mail.outbox[0].subject


def test_creating_a_batch_with_nobody_due_says_so(merchant_client, merchant):
    response = merchant_client.post(reverse("affiliates:payout_batch_create"), follow=True)
    assert "Nobody is due" in response.content.decode() and not Payout.objects.exists()


def test_batch_mark_all_paid(merchant_client, merchant, affiliate):
    bob = AffiliateFactory(merchant=merchant, code="bob")
    _approved(affiliate, amount=6000)
    _approved(bob, amount=7000)
    batch = create_payout_batch(merchant)
    merchant_client.post(
        reverse("affiliates:payout_batch_mark_paid", kwargs={"code": batch.public_id}), {"reference": "BATCH-9"}
    )
    assert set(Payout.objects.filter(batch=batch).values_list("status", "reference")) == {("paid", "BATCH-9")}
