"""Several programs per merchant (affiliates/services/programs.py) and what their rules make a payment earn."""

import pytest
from django.db import IntegrityError, transaction

from affiliates.models import Affiliate, Commission, Program, Referral
from affiliates.rules import Line
from affiliates.services import (
    AffiliateError,
    create_affiliate,
    create_program,
    default_program,
    move_affiliate,
    preview_payment,
    record_commission,
    reprice_commission,
    set_default_program,
    set_program_status,
    update_program,
)
from affiliates.services.affiliates import sign_up_affiliate
from tests.factories import AffiliateFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

PRO, ADDON, GIFT = "prod_pro", "prod_addon", "prod_gift"
RULES = [
    {"match": {"product": PRO}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro plan"},
    {"match": {"product": ADDON}, "commission": {"type": "fixed", "amount": 500, "currency": "usd"}},
    {"match": {"product": GIFT}, "exclude": True},
]


def _pay(referral, source, amount, lines=(), currency="usd", **kw):
    """record_commission as a Stripe handler calls it: with the referral read afresh (its affiliate's program now)."""
    commission, _ = record_commission(
        Referral.objects.get(pk=referral.pk),
        source_type="invoice",
        source_id=source,
        base_amount=amount,
        currency=currency,
        lines=lines,
        **kw,
    )
    return commission


def test_a_new_program_takes_the_defaults_and_a_free_address(merchant):
    first = create_program(merchant, name="Summer launch")
    second = create_program(merchant, name="Summer launch!", cookie_days=7, rules=RULES)
    assert (first.slug, second.slug) == ("summer-launch", "summer-launch-2")
    assert (first.commission_bps, first.cookie_days, first.hold_days, first.is_default) == (2000, 60, 30, False)
    assert second.cookie_days == 7 and second.rules[0]["label"] == "Pro plan"
    assert default_program(merchant).slug == "affiliates"


def test_bad_settings_are_refused_naming_the_field_and_change_nothing(merchant):
    program = create_program(merchant, name="VIP")
    bad = [
        ({"rules": [{"match": {}, "commission": {"type": "percent", "bps": 20000}}]}, "rules[0].commission.bps"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "affiliates"}, "slug"),  # the default program's
        ({"name": "  "}, "name"),
    ]
    for changes, field in bad:
        with pytest.raises(AffiliateError) as caught:
            update_program(program, **changes)
        assert caught.value.field == field
    program.refresh_from_db()
    assert (program.name, program.slug, program.rules) == ("VIP", "vip", [])


def test_making_another_program_the_default_moves_the_flag(merchant):
    old, new = default_program(merchant), create_program(merchant, name="VIP")
    set_default_program(new)
    assert list(Program.objects.filter(merchant=merchant, is_default=True)) == [new]
    assert create_affiliate(merchant, email="n@example.net").program == new
    with pytest.raises(IntegrityError), transaction.atomic():  # the database holds "at most one" too
        Program.objects.filter(pk=old.pk).update(is_default=True)


def test_the_default_and_a_program_with_affiliates_cannot_be_archived(merchant, affiliate):
    default = default_program(merchant)
    with pytest.raises(AffiliateError, match="default program cannot be archived"):
        set_program_status(default, "archived")
    vip = create_program(merchant, name="VIP")
    move_affiliate(affiliate, vip)
    with pytest.raises(AffiliateError, match="1 affiliate is still in this program"):
        set_program_status(vip, "archived")
    move_affiliate(affiliate, default)
    assert set_program_status(vip, "archived").is_archived
    with pytest.raises(AffiliateError, match="archived"):
        move_affiliate(affiliate, vip)
    with pytest.raises(AffiliateError, match="restore it first"):
        set_default_program(vip)
    assert set_program_status(vip, "active").status == "active"


def test_signup_joins_the_chosen_program_and_respects_its_switches(merchant):
    vip = create_program(merchant, name="VIP", auto_approve=True)
    affiliate = sign_up_affiliate(merchant, user=UserFactory(), program=vip)
    assert (affiliate.program, affiliate.status) == (vip, Affiliate.Status.APPROVED)
    update_program(vip, signup_open=False)
    with pytest.raises(AffiliateError, match="not accepting"):
        sign_up_affiliate(merchant, user=UserFactory(), program=vip)
    assert sign_up_affiliate(merchant, user=UserFactory()).program == default_program(merchant)


def test_another_merchants_program_is_unknown(merchant, other_merchant, affiliate):
    theirs = default_program(other_merchant)
    with pytest.raises(AffiliateError, match="Unknown program"):
        move_affiliate(affiliate, theirs)
    with pytest.raises(AffiliateError, match="Unknown program"):
        create_affiliate(merchant, email="x@example.net", program=theirs)


def test_each_line_earns_by_its_rule_and_the_commission_records_why(merchant, affiliate):
    update_program(default_program(merchant), rules=RULES)
    referral = ReferralFactory(affiliate=affiliate)
    lines = [Line(4900, product=PRO, price="price_pro"), Line(1000, product=ADDON), Line(2000, product="prod_other")]
    commission = _pay(referral, "in_1", 7900, lines)
    assert commission.amount == 1470 + 500 + 400
    assert (commission.rule_source, commission.rule_type, commission.rule_index) == ("lines", "mixed", None)
    assert commission.program == default_program(merchant)
    assert [(line["product"], line["amount"], line["rule_index"]) for line in commission.lines] == [
        (PRO, 1470, 0),
        (ADDON, 500, 1),
        ("prod_other", 400, None),
    ]
    assert commission.rule_description.startswith("per line: prod_pro: rule 1 (Pro plan: product prod_pro → 30%)")
    assert commission.rule_label == "lines:mixed"

    single = _pay(referral, "in_2", 4900, [Line(4900, product=PRO)])
    assert (single.amount, single.rule_source, single.rule_index, single.rule_bps) == (1470, "rule", 0, 3000)
    assert single.rule_label == "rule[0]:percent:3000bps"
    assert single.rule_description == "rule 1 (Pro plan: product prod_pro → 30%)"


def test_a_payment_the_rules_exclude_is_recorded_voided_and_earns_nothing(merchant, affiliate):
    update_program(default_program(merchant), rules=RULES)
    commission = _pay(ReferralFactory(affiliate=affiliate), "in_gift", 2500, [Line(2500, product=GIFT)])
    assert (commission.amount, commission.status, commission.rule_type) == (0, "voided", "exclude")
    assert commission.void_reason == "Earns nothing: rule 3 (product prod_gift → nothing)."


def test_no_rule_matching_falls_back_to_the_override_then_the_program(merchant, affiliate):
    update_program(default_program(merchant), rules=RULES)
    referral = ReferralFactory(affiliate=affiliate)
    assert _pay(referral, "in_1", 10000, [Line(10000, product="prod_other")]).amount == 2000
    Affiliate.objects.filter(pk=affiliate.pk).update(commission_type_override="percent", commission_bps_override=5000)
    referral = ReferralFactory(affiliate=Affiliate.objects.get(pk=affiliate.pk))
    other = _pay(referral, "in_2", 10000, [Line(10000, product="prod_other")])
    assert (other.amount, other.rule_source) == (5000, "affiliate")
    assert _pay(referral, "in_3", 4900, [Line(4900, product=PRO)]).amount == 1470  # a rule still beats the override


def test_moving_an_affiliate_changes_later_payments_never_recorded_ones(merchant, affiliate):
    referral = ReferralFactory(affiliate=affiliate)
    before = _pay(referral, "in_before", 10000)
    vip = create_program(merchant, name="VIP", commission_bps=4000, hold_days=7)
    move_affiliate(affiliate, vip)
    after = _pay(referral, "in_after", 10000)
    before.refresh_from_db()
    assert (before.amount, before.program.name, before.rule_bps) == (2000, default_program(merchant).name, 2000)
    assert (after.amount, after.program, after.rule_bps) == (4000, vip, 4000)
    assert (after.hold_until - after.created_at).days == 6  # the new program's hold (7 days, less a few ms)
    # Correcting a commission recorded before the move keeps its rule: the amount is scaled, not recomputed.
    repriced, changed = reprice_commission(before, base_amount=5000)
    assert changed and (repriced.amount, repriced.rule_bps, repriced.program_id) == (1000, 2000, before.program_id)


def test_tiers_count_the_affiliates_customers_and_revenue(merchant, affiliate):
    update_program(
        default_program(merchant),
        rules=[
            {"match": {"affiliate_customers_gte": 3}, "commission": {"type": "percent", "bps": 3000}},
            {
                "match": {"affiliate_revenue_gte": {"amount": 15000, "currency": "usd"}},
                "commission": {"type": "percent", "bps": 2500},
            },
        ],
    )
    first = _pay(ReferralFactory(affiliate=affiliate), "in_1", 10000)
    second = _pay(ReferralFactory(affiliate=affiliate), "in_2", 10000)  # revenue before it: 100.00
    third = _pay(ReferralFactory(affiliate=affiliate), "in_3", 10000)  # revenue 200.00, and its third customer
    assert [c.amount for c in (first, second, third)] == [2000, 2000, 3000]
    ReferralFactory(affiliate=affiliate)  # a visitor who never paid does not count
    assert _pay(ReferralFactory(affiliate=affiliate, stripe_customer_id="cus_x"), "in_4", 10000).amount == 3000


def test_recurring_and_currency_conditions(merchant, affiliate):
    update_program(
        default_program(merchant),
        rules=[
            {"match": {"recurring": True}, "commission": {"type": "percent", "bps": 1000}},
            {"match": {"currency": "jpy"}, "commission": {"type": "fixed", "amount": 700, "currency": "jpy"}},
        ],
    )
    referral = ReferralFactory(affiliate=affiliate)
    assert _pay(referral, "in_1", 10000).amount == 2000
    assert _pay(referral, "in_2", 10000, is_recurring=True).amount == 1000
    yen = _pay(referral, "in_3", 5000, currency="jpy")
    assert (yen.amount, yen.currency, yen.rule_index) == (700, "jpy", 1)


def test_the_preview_uses_the_same_computation(merchant, affiliate):
    program = default_program(merchant)
    program.rules = RULES  # unsaved: the dashboard previews rules before they are saved
    pricing, fallback = preview_payment(program, affiliate=affiliate, amount=4900, currency="usd", product=PRO)
    assert pricing.amount == 1470 and pricing.decision.index == 0
    pricing, _ = preview_payment(program, affiliate=None, amount=4900, currency="usd", product="prod_other")
    assert pricing.amount == 980
    assert Program.objects.get(pk=program.pk).rules == []
    assert not Commission.objects.exists()


def test_an_archived_program_keeps_its_affiliates_out(merchant):
    vip = set_program_status(create_program(merchant, name="VIP"), "archived")
    with pytest.raises(AffiliateError, match="archived"):
        create_affiliate(merchant, email="a@example.net", program=vip)
    assert not AffiliateFactory._meta.model.objects.filter(email="a@example.net").exists()
