"""/api/v1/programs' `next_tier` and `bonuses`: set, read back, replaced and cleared; a bad one answers 400 naming
its path and changes nothing; another merchant's program cannot be the next tier; a loop is refused; a bonus
commission reads as any other, with source type `bonus`."""

import pytest

from affiliates.models import Program, Referral
from affiliates.services import create_program, default_program, record_commission
from tests.factories import ReferralFactory

from .conftest import assert_error

pytestmark = pytest.mark.django_db

BONUSES = [
    {"when": {"affiliate_customers_gte": 2}, "bonus": {"amount": 5000, "currency": "USD"}, "label": "Two customers"},
    {
        "id": "big",
        "when": {"affiliate_revenue_gte": {"amount": 100000, "currency": "usd"}},
        "bonus": {"amount": 20000, "currency": "usd"},
    },
]


def test_a_program_with_a_next_tier_and_bonuses(api, merchant):
    gold = create_program(merchant, name="Gold", commission_bps=3000)
    tier = {"program": str(gold.public_id), "when": {"affiliate_customers_gte": 10}, "period_days": 90}
    response = api.post("/api/v1/programs", {"name": "Starter", "next_tier": tier, "bonuses": BONUSES})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["next_tier"] == {**tier, "mode": "automatic"}
    two, big = body["bonuses"]
    assert two["bonus"] == {"amount": 5000, "currency": "usd"} and two["label"] == "Two customers" and two["id"]
    assert big["id"] == "big"
    program = Program.objects.get(public_id=body["id"])
    assert (program.next_tier, program.tier_period_days, program.bonuses) == (gold, 90, body["bonuses"])
    assert api.get(f"/api/v1/programs/{program.public_id}").json()["next_tier"] == body["next_tier"]
    assert api.get(f"/api/v1/programs/{gold.public_id}").json()["next_tier"] is None

    # Approval mode, all time; the bonuses replaced (ids given are kept); then the tier removed.
    change = {"next_tier": {"program": str(gold.public_id), "when": tier["when"], "mode": "approval"}}
    response = api.patch(f"/api/v1/programs/{program.public_id}", change | {"bonuses": [two]})
    assert response.status_code == 200, response.content
    assert response.json()["next_tier"]["mode"] == "approval" and response.json()["next_tier"]["period_days"] is None
    assert [b["id"] for b in response.json()["bonuses"]] == [two["id"]]
    response = api.patch(f"/api/v1/programs/{program.public_id}", {"next_tier": None})
    assert response.json()["next_tier"] is None
    program.refresh_from_db()
    assert (program.next_tier, program.tier_when, program.bonuses[0]["id"]) == (None, {}, two["id"])


@pytest.mark.parametrize(
    "change, field",
    [
        ({"bonuses": [{"when": {}, "bonus": {"amount": 1, "currency": "usd"}}]}, "bonuses[0].when"),
        ({"bonuses": [{"when": {"affiliate_customers_gte": 0}, "bonus": {"amount": 1, "currency": "usd"}}]}, None),
        ({"bonuses": [{"when": {"affiliate_customers_gte": 3}, "bonus": {"amount": 0, "currency": "usd"}}]}, None),
        ({"bonuses": [{"when": {"affiliate_customers_gte": 3}, "bonus": {"amount": 5}}]}, "bonuses[0].bonus.currency"),
        ({"bonuses": [{"when": {"affiliate_customers_gte": 3}}]}, "bonuses[0].bonus"),
        ({"bonuses": {"when": {}}}, "bonuses"),
        ({"next_tier": {"program": "not-a-uuid", "when": {"affiliate_customers_gte": 3}}}, "next_tier.program"),
        ({"next_tier": {"program": "GOLD", "when": {"customers": 3}}}, "next_tier.when"),
        ({"next_tier": {"program": "GOLD", "when": {"affiliate_customers_gte": 3}, "period_days": 0}}, None),
        ({"next_tier": {"program": "GOLD", "when": {"affiliate_customers_gte": 3}, "mode": "later"}}, None),
    ],
)
def test_a_bad_tier_or_bonus_is_a_400_and_changes_nothing(api, merchant, change, field):
    gold = create_program(merchant, name="Gold")
    if "next_tier" in change and change["next_tier"]["program"] == "GOLD":
        change = {"next_tier": {**change["next_tier"], "program": str(gold.public_id)}}
    program = default_program(merchant)
    error = assert_error(api.patch(f"/api/v1/programs/{program.public_id}", change), 400)
    if field is not None:
        assert error["field"] == field, error
    program.refresh_from_db()
    assert (program.next_tier, program.bonuses) == (None, [])


def test_two_bonuses_with_one_id_are_refused(api, merchant):
    program = default_program(merchant)
    change = {"bonuses": [BONUSES[1], BONUSES[1]]}
    assert_error(api.patch(f"/api/v1/programs/{program.public_id}", change), 409, field="bonuses[1].id")
    program.refresh_from_db()
    assert program.bonuses == []


def test_another_merchants_program_is_not_a_next_tier_and_a_loop_is_refused(api, merchant, other_merchant):
    theirs = create_program(other_merchant, name="Theirs")
    program, gold = default_program(merchant), create_program(merchant, name="Gold")
    when = {"affiliate_customers_gte": 5}
    tier = {"next_tier": {"program": str(theirs.public_id), "when": when}}
    assert_error(api.patch(f"/api/v1/programs/{program.public_id}", tier), 404, field="next_tier.program")

    assert (
        api.patch(
            f"/api/v1/programs/{gold.public_id}", {"next_tier": {"program": str(program.public_id), "when": when}}
        ).status_code
        == 200
    )
    back = {"next_tier": {"program": str(gold.public_id), "when": when}}
    error = assert_error(api.patch(f"/api/v1/programs/{program.public_id}", back), 409, field="next_tier.program")
    assert "leads back" in error["message"]
    itself = {"next_tier": {"program": str(program.public_id), "when": when}}
    assert_error(api.patch(f"/api/v1/programs/{program.public_id}", itself), 409, field="next_tier.program")
    assert Program.objects.get(pk=program.pk).next_tier is None


def test_a_bonus_commission_reads_as_any_commission_with_source_type_bonus(api, merchant, affiliate):
    program = default_program(merchant)
    response = api.patch(f"/api/v1/programs/{program.public_id}", {"bonuses": BONUSES[:1]})
    assert response.status_code == 200, response.content
    for n in range(2):
        referral = Referral.objects.get(pk=ReferralFactory(affiliate=affiliate).pk)  # as a payment's handler reads it
        record_commission(
            referral, source_type="payment_intent", source_id=f"pi_{n}", base_amount=10000, currency="usd"
        )
    listed = api.get("/api/v1/commissions", {"affiliate": str(affiliate.public_id)}).json()["results"]
    [bonus] = [c for c in listed if c["source"]["type"] == "bonus"]
    assert (bonus["amount"], bonus["net_amount"], bonus["currency"], bonus["status"]) == (5000, 5000, "usd", "pending")
    assert (bonus["base_amount"], bonus["referral"], bonus["rule"], bonus["rule_source"]) == (
        0,
        None,
        "bonus:fixed:5000 usd",
        "bonus",
    )
    assert bonus["source"]["id"].startswith(f"bonus:{program.public_id}:")
