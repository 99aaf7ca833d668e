"""/api/v1/programs with an API key: several programs, their rules checked strictly, archiving by status, the default
moved, affiliates moved between programs, and the rule a commission recorded."""

import pytest

from affiliates.models import Affiliate, Commission, Program
from affiliates.rules import Line
from affiliates.services import create_program, default_program, record_commission
from tests.factories import AffiliateFactory, ReferralFactory

from .conftest import assert_error

pytestmark = pytest.mark.django_db

RULES = [
    {"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro plan"},
    {"match": {"price": "price_seat"}, "commission": {"type": "fixed", "amount": 500, "currency": "USD"}},
    {"match": {"product": "prod_gift"}, "exclude": True},
    {"match": {"affiliate_customers_gte": 10, "recurring": False}, "commission": {"type": "percent", "bps": 2500}},
]


def test_create_list_retrieve_and_update_a_program_with_rules(api, merchant):
    response = api.post("/api/v1/programs", {"name": "Summer launch", "cookie_days": 14, "rules": RULES})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["slug"], body["status"], body["is_default"]) == (
        "Summer launch",
        "summer-launch",
        "active",
        False,
    )
    assert (body["cookie_days"], body["hold_days"], body["commission_bps"]) == (14, 30, 2000)
    assert body["rules"][1]["commission"] == {"type": "fixed", "amount": 500, "currency": "usd"}
    assert body["signup_url"].endswith(f"/p/{merchant.slug}/join/summer-launch/")
    program = Program.objects.get(public_id=body["id"])
    assert program.merchant == merchant and program.rules == body["rules"]

    listed = {p["id"]: p for p in api.get("/api/v1/programs").json()["results"]}
    assert set(listed) == {body["id"], str(default_program(merchant).public_id)}
    assert api.get(f"/api/v1/programs/{program.public_id}").json() == body

    response = api.patch(
        f"/api/v1/programs/{program.public_id}", {"rules": RULES[:1], "slug": "summer", "hold_days": 7}
    )
    assert response.status_code == 200, response.content
    program.refresh_from_db()
    assert (len(program.rules), program.slug, program.hold_days) == (1, "summer", 7)
    assert api.patch(f"/api/v1/programs/{program.public_id}", {"rules": []}).json()["rules"] == []


@pytest.mark.parametrize(
    "rules, field",
    [
        ([RULES[0], {"match": {}, "commission": {"type": "percent", "bps": 10001}}], "rules[1].commission.bps"),
        ([{"match": {}, "commission": {"type": "percent", "bps": "30"}}], "rules[0].commission.bps"),
        ([{"match": {"product": 5}, "exclude": True}], "rules[0].match.product"),
        ([{"match": {"recurring": "yes"}, "exclude": True}], "rules[0].match.recurring"),
        ([{"match": {"size": "L"}, "exclude": True}], "rules[0].match.size"),
        ([{"match": {}, "commission": {"type": "fixed", "amount": 100}}], "rules[0].commission.currency"),
        ([{"match": {}, "exclude": False}], "rules[0].exclude"),
        ([{"match": {}}], "rules[0].commission"),
        ({"match": {}}, "rules"),
    ],
)
def test_a_bad_rule_is_a_400_naming_its_path_and_changes_nothing(api, merchant, rules, field):
    program = default_program(merchant)
    error = assert_error(api.patch(f"/api/v1/programs/{program.public_id}", {"rules": rules}), 400, field=field)
    assert error["code"] == "invalid"
    assert_error(api.post("/api/v1/programs", {"name": "X", "rules": rules}), 400, field=field)
    program.refresh_from_db()
    assert program.rules == [] and Program.objects.filter(merchant=merchant).count() == 1


def test_archive_by_status_and_what_is_refused(api, merchant, affiliate):
    default = default_program(merchant)
    assert_error(api.patch(f"/api/v1/programs/{default.public_id}", {"status": "archived"}), 409, field="status")
    vip = create_program(merchant, name="VIP")
    assert api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"program": str(vip.public_id)}).status_code == 200
    error = assert_error(api.patch(f"/api/v1/programs/{vip.public_id}", {"status": "archived"}), 409, field="status")
    assert "move them to another program first" in error["message"]
    api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"program": str(default.public_id)})
    assert api.patch(f"/api/v1/programs/{vip.public_id}", {"status": "archived"}).json()["status"] == "archived"
    assert [p["id"] for p in api.get("/api/v1/programs", {"status": "archived"}).json()["results"]] == [
        str(vip.public_id)
    ]
    assert_error(
        api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"program": str(vip.public_id)}), 409, field="program"
    )
    assert_error(api.post("/api/v1/affiliates", {"email": "n@example.net", "program": str(vip.public_id)}), 409)
    assert api.patch(f"/api/v1/programs/{vip.public_id}", {"status": "active"}).json()["status"] == "active"


def test_making_a_program_the_default_moves_the_flag(api, merchant):
    old = default_program(merchant)
    new = api.post("/api/v1/programs", {"name": "VIP", "is_default": True}).json()
    assert new["is_default"] is True
    assert api.get(f"/api/v1/programs/{old.public_id}").json()["is_default"] is False
    assert list(Program.objects.filter(merchant=merchant, is_default=True).values_list("name", flat=True)) == ["VIP"]
    assert_error(api.patch(f"/api/v1/programs/{new['id']}", {"is_default": False}), 409, field="is_default")
    created = api.post("/api/v1/affiliates", {"email": "new@example.net"}).json()
    assert created["program"] == new["id"]
    # Archiving and making default at once: the default cannot be archived.
    assert_error(api.patch(f"/api/v1/programs/{old.public_id}", {"is_default": True, "status": "archived"}), 409)
    assert Program.objects.get(pk=old.pk).is_default is False


def test_another_merchants_program_answers_404(api, merchant, other_merchant, affiliate):
    theirs = create_program(other_merchant, name="Theirs")
    for call in (
        lambda: api.get(f"/api/v1/programs/{theirs.public_id}"),
        lambda: api.patch(f"/api/v1/programs/{theirs.public_id}", {"name": "Mine now"}),
    ):
        assert_error(call(), 404, code="not_found")
    assert_error(
        api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"program": str(theirs.public_id)}), 404, field="program"
    )
    assert str(theirs.public_id) not in {p["id"] for p in api.get("/api/v1/programs").json()["results"]}
    assert api.get("/api/v1/affiliates", {"program": str(theirs.public_id)}).json()["results"] == []
    theirs.refresh_from_db()
    affiliate.refresh_from_db()
    assert theirs.name == "Theirs" and affiliate.program.merchant == merchant


def test_moving_an_affiliate_keeps_what_was_earned(api, merchant, affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    earned, _ = record_commission(referral, source_type="invoice", source_id="in_1", base_amount=10000, currency="usd")
    vip = create_program(merchant, name="VIP", commission_bps=5000)
    response = api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"program": str(vip.public_id)})
    assert response.status_code == 200 and response.json()["program"] == str(vip.public_id)
    assert Affiliate.objects.get(pk=affiliate.pk).program == vip
    later, _ = record_commission(
        Affiliate.objects.get(pk=affiliate.pk).referrals.get(),
        source_type="invoice",
        source_id="in_2",
        base_amount=10000,
        currency="usd",
    )
    rows = {c["id"]: c for c in api.get("/api/v1/commissions").json()["results"]}
    assert (rows[str(earned.public_id)]["amount"], rows[str(earned.public_id)]["program"]) == (
        2000,
        str(default_program(merchant).public_id),
    )
    assert (rows[str(later.public_id)]["amount"], rows[str(later.public_id)]["program"]) == (5000, str(vip.public_id))
    by_program = api.get("/api/v1/commissions", {"program": str(vip.public_id)}).json()["results"]
    assert [c["id"] for c in by_program] == [str(later.public_id)]


def test_a_commission_shows_the_rule_that_decided(api, merchant, affiliate):
    api.patch(f"/api/v1/programs/{default_program(merchant).public_id}", {"rules": RULES})
    referral = ReferralFactory(affiliate=Affiliate.objects.get(pk=affiliate.pk))
    commission, _ = record_commission(
        referral, source_type="invoice", source_id="in_pro", base_amount=4900, currency="usd"
    )  # no lines: the whole payment, which no product rule matches
    assert commission.rule_source == "program"
    lined, _ = record_commission(
        referral,
        source_type="invoice",
        source_id="in_lines",
        base_amount=4900,
        currency="usd",
        lines=[Line(4900, product="prod_pro", price="price_pro")],
    )
    body = api.get(f"/api/v1/commissions/{lined.public_id}").json()
    assert (body["amount"], body["rule"], body["rule_source"], body["rule_index"]) == (
        1470,
        "rule[0]:percent:3000bps",
        "rule",
        0,
    )
    assert body["rule_description"] == "rule 1 (Pro plan: product prod_pro → 30%)"
    assert body["lines"] == [
        {
            "product": "prod_pro",
            "price": "price_pro",
            "base_amount": 4900,
            "amount": 1470,
            "rule_source": "rule",
            "rule_index": 0,
        }
    ]
    assert Commission.objects.filter(merchant=merchant).count() == 2


def test_affiliates_filter_by_program(api, merchant, affiliate):
    vip = create_program(merchant, name="VIP")
    AffiliateFactory(merchant=merchant, program=vip, code="vip1", email="vip1@example.net")
    listed = api.get("/api/v1/affiliates", {"program": str(vip.public_id)}).json()["results"]
    assert [a["code"] for a in listed] == ["vip1"]
    assert_error(api.get("/api/v1/affiliates", {"program": "vip"}), 400, field="program")
