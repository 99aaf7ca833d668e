"""Tiers and bonuses in the dashboard: set on the program's page (next tier and bonus rows, checked as the API checks
them), and a move up that waits for approval shown on the overview and the affiliate's page, approved (the affiliate
moves and is emailed) or dismissed (not proposed again); another merchant's move answers 404."""

import pytest
from django.core import mail
from django.urls import reverse

from affiliates.models import Affiliate, Program, TierPromotion
from affiliates.services import create_program, default_program, update_program
from tests.dashboard.test_programs import SETTINGS, rows
from tests.factories import ReferralFactory, UserFactory
from tests.stripe_events import checkout_session, make_event, post_event

pytestmark = pytest.mark.django_db

TIER_BLANK = {"tier-program": "", "tier-value": "", "tier-metric": "customers", "tier-currency": "usd"}
TIER_BLANK |= {"tier-period": "", "tier-mode": "automatic"}
BONUS_BLANK = {"id": "", "value": "", "metric": "customers", "value_currency": "usd", "amount": "", "currency": "usd"}
BONUS_BLANK |= {"label": ""}


def bonus_rows(*given, initial: int = 0) -> dict:
    """The bonus rows' POST: the rows given, then the blank row a browser sends untouched."""
    data = {
        "bonuses-TOTAL_FORMS": str(len(given) + 1),
        "bonuses-INITIAL_FORMS": str(initial),
        "bonuses-MIN_NUM_FORMS": "0",
        "bonuses-MAX_NUM_FORMS": "20",
    }
    for i, row in enumerate([*given, {}]):
        for key, value in {**BONUS_BLANK, **row}.items():
            data[f"bonuses-{i}-{key}"] = value
    return data


def page_post(shown, **tier) -> dict:
    """The program page's POST for `shown`, its next tier from `tier` (the tier form's fields, unprefixed)."""
    return SETTINGS | {"name": shown.name} | rows() | TIER_BLANK | {f"tier-{k}": v for k, v in tier.items()}


def test_the_program_page_sets_the_next_tier_and_bonuses(merchant_client, merchant):
    program, gold = default_program(merchant), create_program(merchant, name="Gold", commission_bps=3000)
    data = page_post(program, program=str(gold.public_id), value="10", period="90", mode="approval") | bonus_rows(
        {"value": "5", "amount": "25", "label": "Five customers"},
        {"value": "1000", "metric": "revenue", "value_currency": "eur", "amount": "100", "currency": "eur"},
    )
    response = merchant_client.post(reverse("affiliates:programs"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    program.refresh_from_db()
    assert (program.next_tier, program.tier_when, program.tier_period_days, program.tier_mode) == (
        gold,
        {"affiliate_customers_gte": 10},
        90,
        "approval",
    )
    five, revenue = program.bonuses
    assert (five["when"], five["bonus"], five["label"]) == (
        {"affiliate_customers_gte": 5},
        {"amount": 2500, "currency": "usd"},
        "Five customers",
    )
    assert revenue["when"] == {"affiliate_revenue_gte": {"amount": 100000, "currency": "eur"}}
    assert revenue["bonus"] == {"amount": 10000, "currency": "eur"}

    page = merchant_client.get(reverse("affiliates:programs")).content.decode()
    assert f'<option value="{gold.public_id}" selected>' in page
    assert 'value="Five customers"' in page and 'value="1000.00"' in page and f'value="{five["id"]}"' in page

    # Editing a bonus keeps its id (the one affiliates may have earned); removing one drops it; no tier any more.
    data = page_post(program) | bonus_rows(
        {"id": five["id"], "value": "6", "amount": "25", "label": "Six customers"},
        {
            "id": revenue["id"],
            "value": "1000",
            "metric": "revenue",
            "value_currency": "eur",
            "amount": "100",
            "currency": "eur",
            "DELETE": "on",
        },
        initial=2,
    )
    assert merchant_client.post(reverse("affiliates:programs"), data).status_code == 302
    program.refresh_from_db()
    assert [(b["id"], b["when"], b["label"]) for b in program.bonuses] == [
        (five["id"], {"affiliate_customers_gte": 6}, "Six customers")
    ]
    assert (program.next_tier, program.tier_when) == (None, {})


@pytest.mark.parametrize(
    "tier, bonus, message",
    [
        ({"value": "ten"}, {}, "Enter a number of customers"),
        ({"value": "0"}, {}, "Enter a number of customers"),
        ({}, {"value": "3", "amount": "0"}, "Enter a bonus above zero"),
        ({}, {"value": "3", "amount": "1.001"}, "2 decimal places"),
        ({}, {"value": "", "amount": "5"}, "Enter a number of customers"),
    ],
)
def test_a_bad_tier_or_bonus_is_shown_and_nothing_is_saved(merchant_client, merchant, tier, bonus, message):
    program, gold = default_program(merchant), create_program(merchant, name="Gold")
    tier = {"program": str(gold.public_id), "value": "10", **tier}
    data = page_post(program, **tier) | bonus_rows(*([bonus] if bonus else []))
    response = merchant_client.post(reverse("affiliates:programs"), data)
    assert response.status_code == 400 and message in response.content.decode()
    program.refresh_from_db()
    assert (program.next_tier, program.bonuses, program.reviewed_at) == (None, [], None)


def test_a_next_tier_that_leads_back_is_refused(merchant_client, merchant):
    program, gold = default_program(merchant), create_program(merchant, name="Gold")
    update_program(gold, next_tier={"program": program, "when": {"affiliate_customers_gte": 50}})
    response = merchant_client.post(
        reverse("affiliates:programs"), page_post(program, program=str(gold.public_id), value="10")
    )
    assert response.status_code == 400
    assert "cannot move affiliates up to Gold, which leads back to it" in response.content.decode()
    assert Program.objects.get(pk=program.pk).next_tier is None


def reach_two_customers(client, merchant, affiliate):
    for _ in range(2):
        session = checkout_session(client_reference_id=ReferralFactory(affiliate=affiliate).rid)
        event = make_event("checkout.session.completed", session, account=merchant.stripe_account_id)
        assert post_event(client, event).status_code == 200


@pytest.fixture
def waiting(client, merchant, affiliate):
    """alice reached Gold's threshold in a program that moves affiliates after approval."""
    gold = create_program(merchant, name="Gold", commission_bps=3000)
    tier = {"program": gold, "when": {"affiliate_customers_gte": 2}, "mode": "approval"}
    basic = update_program(default_program(merchant), next_tier=tier)
    reach_two_customers(client, merchant, affiliate)
    affiliate.refresh_from_db()
    assert affiliate.program == basic
    return TierPromotion.objects.get(affiliate=affiliate)


def test_a_move_waiting_for_approval_is_shown_and_approving_moves_the_affiliate_and_emails_it(
    merchant_client, merchant, affiliate, waiting, django_capture_on_commit_callbacks
):
    overview = merchant_client.get(reverse("affiliates:overview")).content.decode()
    detail_url = reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id})
    detail = merchant_client.get(detail_url).content.decode()
    for page in (overview, detail):
        assert "Ready to move up" in page and "reached 2 customers" in page and "Move to Gold" in page
        assert reverse("affiliates:promotion_approve", kwargs={"code": waiting.public_id}) in page

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = merchant_client.post(
            reverse("affiliates:promotion_approve", kwargs={"code": waiting.public_id}), {"next": detail_url}
        )
    assert (response.status_code, response["Location"]) == (302, detail_url)
    affiliate.refresh_from_db()
    waiting.refresh_from_db()
    assert affiliate.program.name == "Gold"
    assert (waiting.status, waiting.decided_by.email) == ("approved", merchant.memberships.get().user.email)
    assert [m.subject for m in mail.outbox] == [f"You moved up to Gold at {merchant.name}"]
    assert mail.outbox[0].to == [affiliate.email]
    assert "Ready to move up" not in merchant_client.get(reverse("affiliates:overview")).content.decode()

    # Approving again changes nothing.
    response = merchant_client.post(
        reverse("affiliates:promotion_approve", kwargs={"code": waiting.public_id}), follow=True
    )
    assert "already approved" in response.content.decode()


def test_dismissing_a_move_keeps_the_affiliate_and_it_is_not_proposed_again(
    client, merchant_client, merchant, affiliate, waiting
):
    response = merchant_client.post(reverse("affiliates:promotion_dismiss", kwargs={"code": waiting.public_id}))
    assert response.status_code == 302
    waiting.refresh_from_db()
    affiliate.refresh_from_db()
    assert (waiting.status, affiliate.program.is_default) == ("dismissed", True)
    reach_two_customers(client, merchant, affiliate)
    assert list(TierPromotion.objects.values_list("status", flat=True)) == ["dismissed"]
    assert "Ready to move up" not in merchant_client.get(reverse("affiliates:overview")).content.decode()


def test_other_merchant_gets_404(client, other_merchant, other_owner, waiting):
    client.force_login(other_owner)
    for name in ("promotion_approve", "promotion_dismiss"):
        assert client.post(reverse(f"affiliates:{name}", kwargs={"code": waiting.public_id})).status_code == 404
    waiting.refresh_from_db()
    assert waiting.status == "pending"


def test_another_merchants_program_cannot_be_the_next_tier(merchant_client, merchant, other_merchant):
    theirs = create_program(other_merchant, name="Theirs")
    program = default_program(merchant)
    response = merchant_client.post(
        reverse("affiliates:programs"), page_post(program, program=str(theirs.public_id), value="10")
    )
    assert response.status_code == 400
    assert Program.objects.get(pk=program.pk).next_tier is None


def test_the_affiliate_page_says_where_it_moves_up_and_the_portal_shows_its_bonus(
    client, merchant_client, merchant, affiliate
):
    gold = create_program(merchant, name="Gold")
    bonus = {"when": {"affiliate_customers_gte": 2}, "bonus": {"amount": 5000, "currency": "usd"}, "label": "Duo"}
    tier = {"program": gold, "when": {"affiliate_customers_gte": 10}, "period_days": 30, "mode": "approval"}
    update_program(default_program(merchant), next_tier=tier, bonuses=[bonus])
    page = merchant_client.get(reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}))
    body = page.content.decode()
    assert "Moves up to Gold at 10 customers in the last 30 days, after your approval." in body
    assert "Bonus of $50.00 at 2 customers (Duo)." in body

    reach_two_customers(client, merchant, affiliate)
    user = UserFactory(email=affiliate.email)
    Affiliate.objects.filter(pk=affiliate.pk).update(user=user)
    client.force_login(user)
    portal = client.get(reverse("affiliates:portal_commissions", kwargs={"slug": merchant.slug})).content.decode()
    assert '<span class="badge">bonus</span>' in portal and "$50.00 at 2 customers (Duo)" in portal
