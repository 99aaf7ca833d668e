"""The merchant dashboard's pages: what they show, what their forms change, and 404 for another merchant's ids."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from affiliates.models import Affiliate, Commission, Program
from affiliates.services import create_payout_batch
from tests.factories import AffiliateFactory, CommissionFactory, MembershipFactory, ReferralFactory
from tracking.models import Click

pytestmark = pytest.mark.django_db


def _approved(affiliate, **kw):
    return CommissionFactory(
        referral__affiliate=affiliate, status=Commission.Status.APPROVED, approved_at=timezone.now(), **kw
    )


@pytest.mark.parametrize(
    "name", ["overview", "onboarding", "affiliate_list", "commission_list", "payout_list", "programs", "settings"]
)
def test_every_dashboard_page_renders_for_an_empty_merchant_with_next_steps(merchant_client, name):
    response = merchant_client.get(reverse(f"affiliates:{name}"))
    assert response.status_code == 200
    assert b"Not built" not in response.content


@pytest.mark.parametrize(
    "name", ["overview", "affiliate_list", "commission_list", "payout_list", "programs", "settings"]
)
def test_dashboard_pages_need_a_login(client, name):
    response = client.get(reverse(f"affiliates:{name}"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_overview_counts_clicks_referrals_customers_revenue_and_commissions(merchant_client, merchant, affiliate):
    now = timezone.now()
    referral = ReferralFactory(affiliate=affiliate, stripe_customer_id="cus_1", converted_at=now)
    ReferralFactory(affiliate=affiliate)
    Click.objects.bulk_create(
        [Click(merchant=merchant, affiliate=affiliate, referral=referral, created_at=now) for _ in range(5)]
    )
    CommissionFactory(referral=referral, amount=2000, base_amount=10000)  # pending
    CommissionFactory(referral=referral, amount=1500, base_amount=7500, status=Commission.Status.PAID, paid_at=now)
    old = CommissionFactory(referral=referral, amount=999, base_amount=5000)
    Commission.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=90))

    response = merchant_client.get(reverse("affiliates:overview") + "?period=30d")

    stats = response.context["stats"]
    assert (stats["clicks"], stats["referrals"], stats["customers"]) == (5, 2, 1)
    assert str(stats["revenue"]) == "$175.00"
    assert str(stats["owed"]) == "$20.00" and str(stats["paid"]) == "$15.00"
    assert stats["conversion_rate"] == 50
    assert response.context["top"][0]["affiliate"] == affiliate
    body = response.content.decode()
    assert "$175.00" in body and "Top affiliates" in body
    assert len(response.context["series"]["days"]) == 30 and sum(response.context["series"]["clicks"]) == 5

    everything = merchant_client.get(reverse("affiliates:overview") + "?period=12m").context["stats"]
    assert str(everything["revenue"]) == "$225.00"


def test_overview_never_shows_another_merchants_numbers(merchant_client, other_merchant):
    other = AffiliateFactory(merchant=other_merchant)
    CommissionFactory(referral__affiliate=other, amount=5000)
    response = merchant_client.get(reverse("affiliates:overview"))
    assert response.context["stats"]["payments"] == 0 and response.context["top"] == []


def test_overview_shows_the_checklist_until_onboarding_is_done(merchant_client, merchant):
    body = merchant_client.get(reverse("affiliates:overview")).content.decode()
    assert "Get your program running" in body


def test_program_form_stores_percent_as_bps_and_major_units_as_minor(merchant_client, merchant):
    data = {
        "name": "Partners",
        "commission_type": "percent",
        "commission_percent": "12.5",
        "commission_amount": "",
        "commission_currency": "eur",
        "recurring": "months",
        "recurring_months": "6",
        "cookie_days": "90",
        "hold_days": "14",
        "min_payout": "25.50",
        "attribution": "first_click",
        "signup_open": "on",
    }
    response = merchant_client.post(reverse("affiliates:programs"), data)
    assert response.status_code == 302
    program = Program.objects.get(merchant=merchant)
    assert (program.commission_bps, program.commission_currency, program.recurring_months) == (1250, "eur", 6)
    assert (program.cookie_days, program.hold_days, program.min_payout_amount) == (90, 14, 2550)
    assert program.attribution == "first_click" and program.signup_open and not program.auto_approve
    assert program.reviewed_at is not None

    fixed = dict(
        data,
        commission_type="fixed",
        commission_amount="15",
        commission_currency="jpy",
        min_payout="5000",
        recurring="forever",
    )
    merchant_client.post(reverse("affiliates:programs"), fixed)
    program.refresh_from_db()
    assert (
        program.commission_type,
        program.commission_amount,
        program.min_payout_amount,
        program.recurring_months,
    ) == ("fixed", 15, 5000, None)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("commission_percent", "120", "between 0 and 100"),
        ("commission_percent", "12.345", "two decimals"),
        ("min_payout", "10.005", "2 decimal places"),
        ("cookie_days", "0", "greater than or equal to 1"),
    ],
)
def test_program_form_refuses_bad_input_and_changes_nothing(merchant_client, merchant, field, value, message):
    data = {
        "name": "Partners",
        "commission_type": "percent",
        "commission_percent": "20",
        "commission_currency": "usd",
        "recurring": "first",
        "cookie_days": "60",
        "hold_days": "30",
        "min_payout": "50",
        "attribution": "last_click",
    }
    data[field] = value
    response = merchant_client.post(reverse("affiliates:programs"), data)
    assert response.status_code == 400 and message in response.content.decode()
    program = Program.objects.get(merchant=merchant)
    assert (program.commission_bps, program.cookie_days, program.min_payout_amount, program.reviewed_at) == (
        2000,
        60,
        5000,
        None,
    )


def test_program_confirm_completes_the_onboarding_step(merchant_client, merchant):
    response = merchant_client.post(reverse("affiliates:program_confirm"))
    assert response.status_code == 302
    assert Program.objects.get(merchant=merchant).reviewed_at is not None


def test_affiliate_list_searches_filters_and_shows_stats(merchant_client, merchant, affiliate):
    AffiliateFactory(
        merchant=merchant, name="Bob Builder", email="bob@example.net", code="bob", status=Affiliate.Status.PENDING
    )
    _approved(affiliate, amount=3000)
    response = merchant_client.get(reverse("affiliates:affiliate_list") + "?q=bob")
    assert [a.code for a in response.context["page"].object_list] == ["bob"]
    response = merchant_client.get(reverse("affiliates:affiliate_list") + "?status=approved")
    rows = list(response.context["page"].object_list)
    assert [a.code for a in rows] == ["alice"] and str(rows[0].stats["owed"]) == "$30.00"
    assert response.context["status_counts"]["pending"] == 1


def test_invite_affiliate_creates_it_approved_and_emails_a_working_link(
    merchant_client, merchant, django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        response = merchant_client.post(
            reverse("affiliates:affiliate_invite"), {"email": "Carol@Example.net", "name": "Carol", "code": "carol"}
        )
    affiliate = Affiliate.objects.get(merchant=merchant, code="carol")
    assert (
        response.status_code == 302
        and affiliate.status == Affiliate.Status.APPROVED
        and affiliate.email == "carol@example.net"
    )
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["carol@example.net"]
    link = next(line for line in mail.outbox[0].body.splitlines() if "/invite/" in line).strip()
    path = link.split("127.0.0.1:8000", 1)[-1] if "127.0.0.1:8000" in link else link[link.index("/p/") :]
    client.logout()
    page = client.get(path)
    assert page.status_code == 200 and "carol" in page.content.decode()
    response = client.post(path, {"password": "a-long-secret-phrase"})
    assert response.status_code == 302
    affiliate.refresh_from_db()
    assert affiliate.user is not None and affiliate.user.email == "carol@example.net"
    assert client.get(path).status_code == 404  # single use


def test_invite_with_a_taken_code_says_why_and_creates_nothing(merchant_client, merchant, affiliate):
    response = merchant_client.post(
        reverse("affiliates:affiliate_invite"), {"email": "new@example.net", "code": "ALICE"}, follow=True
    )
    assert "already taken" in response.content.decode()
    assert not Affiliate.objects.filter(email="new@example.net").exists()


def test_approving_a_pending_affiliate_emails_them(merchant_client, merchant, django_capture_on_commit_callbacks):
    pending = AffiliateFactory(merchant=merchant, status=Affiliate.Status.PENDING, approved_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = merchant_client.post(
            reverse("affiliates:affiliate_status", kwargs={"uid": pending.public_id}), {"status": "approved"}
        )
    pending.refresh_from_db()
    assert response.status_code == 302 and pending.status == "approved" and pending.approved_at is not None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [pending.email] and "approved" in mail.outbox[0].subject


@pytest.mark.parametrize("status", ["rejected", "suspended"])
def test_reject_and_suspend_change_the_status_without_email(
    merchant_client, affiliate, status, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        merchant_client.post(
            reverse("affiliates:affiliate_status", kwargs={"uid": affiliate.public_id}), {"status": status}
        )
    affiliate.refresh_from_db()
    assert affiliate.status == status and mail.outbox == []


def test_unknown_status_is_refused(merchant_client, affiliate):
    merchant_client.post(
        reverse("affiliates:affiliate_status", kwargs={"uid": affiliate.public_id}), {"status": "boss"}
    )
    affiliate.refresh_from_db()
    assert affiliate.status == "approved"


def test_affiliate_detail_shows_their_activity_and_edits_code_and_override(merchant_client, merchant, affiliate):
    referral = ReferralFactory(affiliate=affiliate, stripe_customer_id="cus_9")
    Click.objects.create(
        merchant=merchant,
        affiliate=affiliate,
        referral=referral,
        landing_url="https://shop.test/pricing",
        created_at=timezone.now(),
    )
    CommissionFactory(referral=referral, source_id="pi_detail_1")
    url = reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id})
    body = merchant_client.get(url).content.decode()
    assert "pi_detail_1" in body and "https://shop.test/pricing" in body and "cus_9" in body

    response = merchant_client.post(
        url, {"name": "Alice A.", "code": "alice-vip", "commission_type_override": "percent", "override_percent": "35"}
    )
    assert response.status_code == 302
    affiliate.refresh_from_db()
    assert (affiliate.code, affiliate.commission_type_override, affiliate.commission_bps_override) == (
        "alice-vip",
        "percent",
        3500,
    )


def test_affiliate_edit_refuses_a_code_of_another_affiliate(merchant_client, merchant, affiliate):
    AffiliateFactory(merchant=merchant, code="taken")
    url = reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id})
    response = merchant_client.post(url, {"name": "A", "code": "TAKEN", "commission_type_override": ""})
    assert response.status_code == 400 and "already taken" in response.content.decode()
    affiliate.refresh_from_db()
    assert affiliate.code == "alice"


def test_members_cannot_run_payouts_or_edit_the_program(client, merchant):
    member = MembershipFactory(merchant=merchant, role="member").user
    client.force_login(member)
    assert client.get(reverse("affiliates:payout_list")).status_code == 403
    assert client.post(reverse("affiliates:payout_batch_create")).status_code == 403
    assert client.post(reverse("affiliates:programs"), {}).status_code == 403


def test_settings_shows_the_stripe_connection_and_links(merchant_client, merchant):
    body = merchant_client.get(reverse("affiliates:settings")).content.decode()
    assert merchant.stripe_account_id in body and "Webhook health" in body
    assert (
        reverse("tenants:team") in body and reverse("tenants:api_keys") in body and reverse("tenants:branding") in body
    )
    assert f"/p/{merchant.slug}/" in body


def test_onboarding_shows_every_checkout_kind_with_the_merchants_key(merchant_client, merchant):
    body = merchant_client.get(reverse("affiliates:onboarding")).content.decode()
    for tab in ("Client Checkout", "Server Checkout", "Payment Intents", "Payment Links", "Buy Buttons", "Free trials"):
        assert tab in body
    assert merchant.public_key in body and 'customer_creation: "always"' in body and "_afficoneRef" in body
    assert "Save payment details for future use" in body


def test_onboarding_shows_lead_tracking_and_promotion_codes_with_the_merchants_key(merchant_client, merchant):
    body = merchant_client.get(reverse("affiliates:onboarding")).content.decode()
    leads = body[body.index('id="panel-leads"') : body.index('id="panel-promotion-codes"')]
    assert 'role="tab" id="tab-leads"' in body and 'role="tab" id="tab-promotion-codes"' in body
    assert f'data-afficone="{merchant.public_key}"' in leads and "Afficone.signup" in leads
    assert "/api/v1/leads" in leads and reverse("tenants:api_keys") in leads
    codes = body[body.index('id="panel-promotion-codes"') :]
    assert "allow_promotion_codes: true" in codes and '"promotion_codes": ["MAYA20"]' in codes


# --- another merchant's ids ----------------------------------------------------------------------------------------


@pytest.fixture
def foreign(other_merchant):
    affiliate = AffiliateFactory(merchant=other_merchant, code="foreign")
    commission = CommissionFactory(referral__affiliate=affiliate, status=Commission.Status.APPROVED, amount=9000)
    batch = create_payout_batch(other_merchant)
    return {"affiliate": affiliate, "commission": commission, "batch": batch, "payout": batch.payouts.get()}


def test_every_url_with_an_id_answers_404_for_another_merchants_rows_and_changes_nothing(merchant_client, foreign):
    a, c, b, p = foreign["affiliate"], foreign["commission"], foreign["batch"], foreign["payout"]
    requests = [
        ("get", reverse("affiliates:affiliate_detail", kwargs={"uid": a.public_id}), {}),
        ("post", reverse("affiliates:affiliate_detail", kwargs={"uid": a.public_id}), {"name": "x", "code": "hacked"}),
        ("post", reverse("affiliates:affiliate_status", kwargs={"uid": a.public_id}), {"status": "suspended"}),
        ("post", reverse("affiliates:commission_approve", kwargs={"code": c.public_id}), {}),
        ("post", reverse("affiliates:commission_void", kwargs={"code": c.public_id}), {"reason": "x"}),
        ("post", reverse("affiliates:payout_mark_paid", kwargs={"code": p.public_id}), {"reference": "x"}),
        ("post", reverse("affiliates:payout_batch_mark_paid", kwargs={"code": b.public_id}), {"reference": "x"}),
        ("get", reverse("affiliates:payout_batch_export", kwargs={"code": b.public_id, "kind": "paypal"}), {}),
        ("get", reverse("affiliates:payout_batch_export", kwargs={"code": b.public_id, "kind": "generic"}), {}),
    ]
    for method, url, data in requests:
        assert getattr(merchant_client, method)(url, data).status_code == 404, url
    a.refresh_from_db(), c.refresh_from_db(), p.refresh_from_db()
    assert (a.code, a.status, c.status, p.status) == ("foreign", "approved", "approved", "pending")
    body = merchant_client.get(reverse("affiliates:commission_list") + "?affiliate=foreign").content.decode()
    assert "pi_" not in body.split("<tbody>")[-1] if "<tbody>" in body else True
    assert (
        merchant_client.get(reverse("affiliates:commission_list") + "?affiliate=foreign")
        .context["page"]
        .paginator.count
        == 0
    )


def test_settings_shows_webhook_health_from_signed_events(merchant_client, merchant, affiliate):
    from tests.stripe_events import checkout_session, make_event, post_event

    session = checkout_session(client_reference_id=affiliate.code, amount_total=5000, amount_subtotal=5000)
    assert (
        post_event(
            merchant_client, make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
        ).status_code
        == 200
    )
    post_event(
        merchant_client,
        make_event(
            "customer.created",
            {"id": "cus_x", "object": "customer", "metadata": {}},
            account=merchant.stripe_account_id,
        ),
    )

    response = merchant_client.get(reverse("affiliates:settings"))
    health = response.context["health"]
    assert health["received"] == 2 and health["failed"] == 0
    body = response.content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
    assert "Received (24 h) 2 Ignored (24 h) 0 Failed (24 h) 0" in text
    assert response.context["last_event"].type in ("checkout.session.completed", "customer.created")
    assert f"<code>{response.context['last_event'].type}</code>" in body
    assert Commission.objects.filter(affiliate=affiliate, amount=1000).exists()


def test_bulk_approve_selected_pending_affiliates_emails_each(
    merchant_client, merchant, other_merchant, django_capture_on_commit_callbacks
):
    a = AffiliateFactory(merchant=merchant, status="pending", approved_at=None)
    b = AffiliateFactory(merchant=merchant, status="pending", approved_at=None)
    untouched = AffiliateFactory(merchant=merchant, status="pending", approved_at=None)
    foreign = AffiliateFactory(merchant=other_merchant, status="pending", approved_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = merchant_client.post(
            reverse("affiliates:affiliate_bulk_status"),
            {"status": "approved", "uid": [a.public_id, b.public_id, foreign.public_id]},
            follow=True,
        )
    assert "2 affiliates approved" in response.content.decode()
    for x in (a, b, untouched, foreign):
        x.refresh_from_db()
    assert (a.status, b.status, untouched.status, foreign.status) == ("approved", "approved", "pending", "pending")
    assert sorted(m.to[0] for m in mail.outbox) == sorted([a.email, b.email])


def test_affiliates_csv_export_lists_the_filtered_affiliates_with_their_money(merchant_client, merchant, affiliate):
    AffiliateFactory(merchant=merchant, code="pend", status="pending")
    _approved(affiliate, amount=1250)
    CommissionFactory(referral__affiliate=affiliate, amount=999, status=Commission.Status.PAID)
    response = merchant_client.get(reverse("affiliates:affiliate_list") + "?status=approved&format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["code", "name", "email", "status"]
    assert [(r[0], r[9], r[10], r[11]) for r in rows[1:]] == [("alice", "USD", "12.50", "9.99")]
