"""The dashboard's programs, logged in: the list, creating and editing a program with the rule editor (rows,
positions, removing), the preview, archiving and the default, moving an affiliate, and lists filtered by program."""

import pytest
from django.urls import reverse

from affiliates.models import Affiliate, Commission, Program
from affiliates.rules import Line
from affiliates.services import create_program, default_program, record_commission, update_program
from tests.factories import AffiliateFactory, CommissionFactory, MembershipFactory, ReferralFactory

pytestmark = pytest.mark.django_db

SETTINGS = {
    "name": "Summer launch",
    "slug": "",
    "commission_type": "percent",
    "commission_percent": "20",
    "commission_amount": "",
    "commission_currency": "usd",
    "recurring": "months",
    "recurring_months": "12",
    "cookie_days": "30",
    "hold_days": "14",
    "min_payout": "50",
    "attribution": "last_click",
    "signup_open": "on",
}
BLANK_ROW = {"when": "product", "value": "", "payment": "new", "value_currency": "usd", "and_when": "", "and_value": ""}
BLANK_ROW |= {"and_payment": "new", "and_value_currency": "usd", "pay": "percent", "percent": "", "amount": ""}
BLANK_ROW |= {"currency": "usd", "label": "", "ORDER": ""}


def rows(*given, initial: int = 0) -> dict:
    """The rule editor's POST: the rows given, then the blank row a browser sends untouched."""
    data = {
        "rules-TOTAL_FORMS": str(len(given) + 1),
        "rules-INITIAL_FORMS": str(initial),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "50",
    }
    for i, row in enumerate([*given, {}]):
        for key, value in {**BLANK_ROW, **row}.items():
            data[f"rules-{i}-{key}"] = value
    return data


def test_the_programs_list_shows_each_program_with_its_signup_page(merchant_client, merchant, affiliate):
    vip = create_program(merchant, name="VIP", rules=[{"match": {"product": "prod_a"}, "exclude": True}])
    body = merchant_client.get(reverse("affiliates:program_list")).content.decode()
    assert "VIP" in body and default_program(merchant).name in body and "default" in body
    assert f"/p/{merchant.slug}/join/vip/" in body and f"/p/{merchant.slug}/join/" in body
    assert "and 1 rule" in body
    assert reverse("affiliates:program_edit", kwargs={"code": vip.public_id}) in body


def test_creating_a_program_with_rules_from_the_editor(merchant_client, merchant):
    data = SETTINGS | rows(
        {"when": "product", "value": "prod_pro", "pay": "percent", "percent": "30", "label": "Pro plan"},
        {"when": "price", "value": "price_seat", "pay": "fixed", "amount": "5", "currency": "usd"},
        {"when": "product", "value": "prod_gift", "pay": "nothing"},
        {"when": "customers", "value": "10", "and_when": "payment", "and_payment": "recurring", "percent": "25"},
        {"when": "revenue", "value": "1000", "value_currency": "eur", "percent": "22.5"},
    )
    response = merchant_client.post(reverse("affiliates:program_create"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    program = Program.objects.get(merchant=merchant, name="Summer launch")
    assert response["Location"] == reverse("affiliates:program_edit", kwargs={"code": program.public_id})
    assert (program.slug, program.cookie_days, program.hold_days, program.is_default) == (
        "summer-launch",
        30,
        14,
        False,
    )
    assert program.rules == [
        {"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro plan"},
        {"match": {"price": "price_seat"}, "commission": {"type": "fixed", "amount": 500, "currency": "usd"}},
        {"match": {"product": "prod_gift"}, "exclude": True},
        {"match": {"recurring": True, "affiliate_customers_gte": 10}, "commission": {"type": "percent", "bps": 2500}},
        {
            "match": {"affiliate_revenue_gte": {"amount": 100000, "currency": "eur"}},
            "commission": {"type": "percent", "bps": 2250},
        },
    ]
    page = merchant_client.get(response["Location"]).content.decode()
    assert 'value="prod_pro"' in page and 'value="Pro plan"' in page and 'value="22.5"' in page


def test_editing_reorders_and_removes_rules(merchant_client, merchant):
    program = update_program(
        default_program(merchant),
        rules=[
            {"match": {"product": "prod_a"}, "commission": {"type": "percent", "bps": 1000}},
            {"match": {"product": "prod_b"}, "commission": {"type": "percent", "bps": 2000}},
            {"match": {"product": "prod_c"}, "exclude": True},
        ],
    )
    data = (
        SETTINGS
        | {"name": program.name}
        | rows(
            {"value": "prod_a", "percent": "10", "ORDER": "3"},
            {"value": "prod_b", "percent": "20", "ORDER": "1"},
            {"value": "prod_c", "pay": "nothing", "ORDER": "2", "DELETE": "on"},
            initial=3,
        )
    )
    response = merchant_client.post(reverse("affiliates:programs"), data)
    assert response.status_code == 302
    program.refresh_from_db()
    assert [rule["match"]["product"] for rule in program.rules] == ["prod_b", "prod_a"]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"value": "prod_pro", "percent": "120"}, "between 0 and 100"),
        ({"value": "not a product", "percent": "10"}, "Enter the Stripe product id"),
        ({"when": "customers", "value": "ten", "percent": "10"}, "Enter a number of customers"),
        ({"value": "prod_pro", "pay": "fixed", "amount": "5.005", "currency": "usd"}, "2 decimal places"),
        (
            {"value": "prod_pro", "and_when": "product", "and_value": "prod_x", "percent": "1"},
            "each kind of condition once",
        ),
    ],
)
def test_a_bad_rule_row_is_shown_and_nothing_is_saved(merchant_client, merchant, row, message):
    program = default_program(merchant)
    response = merchant_client.post(reverse("affiliates:programs"), SETTINGS | rows(row))
    assert response.status_code == 400 and message in response.content.decode()
    program.refresh_from_db()
    assert (program.rules, program.name, program.reviewed_at) == ([], default_program(merchant).name, None)


def test_the_preview_says_what_a_payment_earns_and_why_without_saving(merchant_client, merchant):
    maya = AffiliateFactory(merchant=merchant, program=default_program(merchant), name="Maya", code="maya")
    data = (
        SETTINGS
        | {"name": default_program(merchant).name, "action": "preview"}
        | rows(
            {"value": "prod_basic", "percent": "10"},
            {"value": "prod_pro", "percent": "20", "label": "Pro"},
        )
        | {
            "preview_affiliate": "maya",
            "preview_product": "prod_pro",
            "preview_amount": "49",
            "preview_currency": "usd",
            "preview_payment": "new",
        }
    )
    response = merchant_client.post(reverse("affiliates:programs"), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "A $49.00 payment for Pro by Maya earns $9.80 because of rule 2 (Pro: product prod_pro → 20%)." in body
    assert Program.objects.get(pk=default_program(merchant).pk).rules == []  # nothing saved

    Affiliate.objects.filter(pk=maya.pk).update(commission_type_override="percent", commission_bps_override=3000)
    other = data | {"preview_product": "prod_other", "preview_amount": "100"}
    body = merchant_client.post(reverse("affiliates:programs"), other).content.decode()
    assert (
        "A $100.00 payment for prod_other by Maya earns $30.00 because of the affiliate&#x27;s own rate (30%)." in body
    )
    anyone = data | {
        "preview_affiliate": "",
        "preview_product": "prod_basic",
        "preview_amount": "1000",
        "preview_currency": "jpy",
    }
    body = merchant_client.post(reverse("affiliates:programs"), anyone).content.decode()
    assert "A ¥1,000 payment for prod_basic by an affiliate earns ¥100 because of rule 1" in body


def test_archiving_restoring_and_the_default(merchant_client, merchant, affiliate):
    default, vip = default_program(merchant), create_program(merchant, name="VIP")
    archive = {"status": "archived"}
    response = merchant_client.post(
        reverse("affiliates:program_status", kwargs={"code": default.public_id}), archive, follow=True
    )
    assert "default program cannot be archived" in response.content.decode()
    merchant_client.post(reverse("affiliates:program_status", kwargs={"code": vip.public_id}), archive)
    assert Program.objects.get(pk=vip.pk).status == "archived"
    response = merchant_client.post(
        reverse("affiliates:program_make_default", kwargs={"code": vip.public_id}), follow=True
    )
    assert "restore it first" in response.content.decode()
    merchant_client.post(reverse("affiliates:program_status", kwargs={"code": vip.public_id}), {"status": "active"})
    response = merchant_client.post(
        reverse("affiliates:program_make_default", kwargs={"code": vip.public_id}), follow=True
    )
    assert "VIP is now the default program" in response.content.decode()
    assert list(Program.objects.filter(merchant=merchant, is_default=True)) == [vip]


def test_moving_an_affiliate_from_their_page(merchant_client, merchant, affiliate):
    vip = create_program(merchant, name="VIP")
    page = merchant_client.get(
        reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id})
    ).content.decode()
    assert f'value="{vip.public_id}"' in page
    response = merchant_client.post(
        reverse("affiliates:affiliate_program", kwargs={"uid": affiliate.public_id}),
        {"program": str(vip.public_id)},
        follow=True,
    )
    assert "is in VIP: payments from now on earn by its rules" in response.content.decode()
    assert Affiliate.objects.get(pk=affiliate.pk).program == vip


def test_another_merchants_programs_answer_404(merchant_client, merchant, other_merchant, affiliate):
    theirs = create_program(other_merchant, name="Theirs")
    for name in ("program_edit", "program_status", "program_make_default"):
        url = reverse(f"affiliates:{name}", kwargs={"code": theirs.public_id})
        response = (
            merchant_client.post(url, {"status": "archived"}) if name != "program_edit" else merchant_client.get(url)
        )
        assert response.status_code == 404, name
    response = merchant_client.post(
        reverse("affiliates:affiliate_program", kwargs={"uid": affiliate.public_id}), {"program": str(theirs.public_id)}
    )
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert (theirs.status, theirs.is_default) == ("active", False)
    assert Affiliate.objects.get(pk=affiliate.pk).program == default_program(merchant)


def test_members_see_programs_but_cannot_change_them(client, merchant):
    client.force_login(MembershipFactory(merchant=merchant, role="member").user)
    vip = create_program(merchant, name="VIP")
    assert client.get(reverse("affiliates:program_list")).status_code == 200
    assert client.get(reverse("affiliates:program_edit", kwargs={"code": vip.public_id})).status_code == 403
    assert client.post(reverse("affiliates:program_create"), SETTINGS).status_code == 403
    assert (
        client.post(
            reverse("affiliates:program_status", kwargs={"code": vip.public_id}), {"status": "archived"}
        ).status_code
        == 403
    )
    assert Program.objects.get(pk=vip.pk).status == "active"


def test_lists_and_the_overview_filter_by_program(merchant_client, merchant, affiliate):
    vip = create_program(merchant, name="VIP")
    star = AffiliateFactory(merchant=merchant, program=vip, code="star", email="star@example.net", name="Star")
    CommissionFactory(referral=ReferralFactory(affiliate=affiliate), amount=1111, base_amount=5555)
    CommissionFactory(referral=ReferralFactory(affiliate=star), amount=2222, base_amount=7777)
    query = f"?program={vip.public_id}"

    body = merchant_client.get(reverse("affiliates:affiliate_list") + query).content.decode()
    assert "star@example.net" in body and affiliate.email not in body
    body = merchant_client.get(reverse("affiliates:commission_list") + query).content.decode()
    assert "$22.22" in body and "$11.11" not in body
    body = merchant_client.get(reverse("affiliates:overview") + query).content.decode()
    assert "$77.77" in body and "$133.32" not in body  # VIP's revenue only, not both programs'
    body = merchant_client.get(reverse("affiliates:overview")).content.decode()
    assert "$133.32" in body
    # An id that is not one of this merchant's programs lists nothing rather than everything.
    other = f"?program={default_program(MembershipFactory().merchant).public_id}"
    assert "star@example.net" not in merchant_client.get(reverse("affiliates:affiliate_list") + other).content.decode()


def test_the_commission_list_shows_the_rule_that_decided(merchant_client, merchant, affiliate):
    update_program(
        default_program(merchant),
        rules=[{"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro plan"}],
    )
    record_commission(
        ReferralFactory(affiliate=Affiliate.objects.get(pk=affiliate.pk)),
        source_type="invoice",
        source_id="in_1",
        base_amount=4900,
        currency="usd",
        lines=[Line(4900, product="prod_pro")],
    )
    body = merchant_client.get(reverse("affiliates:commission_list")).content.decode()
    assert "rule 1" in body and "rule 1 (Pro plan: product prod_pro → 30%)" in body
    assert Commission.objects.get(source_id="in_1").amount == 1470


def test_rules_with_more_conditions_than_a_row_shows_are_kept_and_read_only(merchant_client, merchant):
    rules = [{"match": {"product": "prod_a", "currency": "usd", "recurring": True}, "exclude": True}]
    program = update_program(default_program(merchant), rules=rules)
    body = merchant_client.get(reverse("affiliates:programs")).content.decode()
    assert "edit them there" in body and "product prod_a and a payment in USD and a recurring payment → nothing" in body
    response = merchant_client.post(reverse("affiliates:programs"), SETTINGS | {"name": program.name} | rows())
    assert response.status_code == 302
    program.refresh_from_db()
    assert program.rules == rules
