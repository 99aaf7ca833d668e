"""A program's rules (affiliates/rules.py): strict checking, the first match deciding, and what each line of a
payment earns, exact to the minor unit in any currency."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affiliates import money
from affiliates.rule_words import describe_rule
from affiliates.rules import (
    Line,
    PaymentContext,
    Rule,
    RuleError,
    allocate,
    commission_for_lines,
    validate_rules,
)

PROGRAM_20 = Rule("percent", 2000, "", "program")


def context(base, currency="usd", **kw):
    return PaymentContext(base_amount=base, currency=currency, fallback=kw.pop("fallback", PROGRAM_20), **kw)


# --- checking -------------------------------------------------------------------------------------------------------


def test_the_design_examples_are_valid_and_come_back_canonical():
    rules = [
        {"match": {"product": "prod_A"}, "commission": {"type": "percent", "bps": 3000}},
        {"match": {"price": "price_B"}, "commission": {"type": "fixed", "amount": 500, "currency": "USD"}},
        {"match": {"product": "prod_C"}, "exclude": True, "label": "  Gift cards "},
        {"match": {"affiliate_customers_gte": 10}, "commission": {"type": "percent", "bps": 2500}},
        {
            "match": {
                "recurring": True,
                "currency": "EUR",
                "affiliate_revenue_gte": {"amount": 100000, "currency": "eur"},
            },
            "commission": {"bps": 1000, "type": "percent"},
        },
        {"match": {}, "exclude": True},
    ]
    clean = validate_rules(rules)
    assert clean[1]["commission"] == {"type": "fixed", "amount": 500, "currency": "usd"}
    assert clean[2] == {"match": {"product": "prod_C"}, "exclude": True, "label": "Gift cards"}
    assert clean[4]["match"] == {
        "recurring": True,
        "currency": "eur",
        "affiliate_revenue_gte": {"amount": 100000, "currency": "eur"},
    }
    assert validate_rules(clean) == clean


@pytest.mark.parametrize(
    "rules, path",
    [
        ({"match": {}}, "rules"),
        (
            [{"match": {"product": "prod_A"}, "commission": {"type": "percent", "bps": 10001}}],
            "rules[0].commission.bps",
        ),
        (
            [{"match": {}, "exclude": True}, {"match": {}, "commission": {"type": "percent", "bps": "20"}}],
            "rules[1].commission.bps",
        ),
        ([{"match": {}, "commission": {"type": "percent", "bps": True}}], "rules[0].commission.bps"),
        ([{"match": {}, "commission": {"type": "percentage", "bps": 1}}], "rules[0].commission.type"),
        ([{"match": {}, "commission": {"type": "fixed", "amount": 5}}], "rules[0].commission.currency"),
        (
            [{"match": {}, "commission": {"type": "fixed", "amount": -5, "currency": "usd"}}],
            "rules[0].commission.amount",
        ),
        (
            [{"match": {}, "commission": {"type": "fixed", "amount": 5, "currency": "dollars"}}],
            "rules[0].commission.currency",
        ),
        ([{"match": {}, "commission": {"type": "percent", "bps": 5, "amount": 1}}], "rules[0].commission.amount"),
        ([{"match": {"product": ""}, "exclude": True}], "rules[0].match.product"),
        ([{"match": {"product": "prod A"}, "exclude": True}], "rules[0].match.product"),
        ([{"match": {"recurring": "yes"}, "exclude": True}], "rules[0].match.recurring"),
        ([{"match": {"colour": "red"}, "exclude": True}], "rules[0].match.colour"),
        ([{"match": {"affiliate_customers_gte": 2.5}, "exclude": True}], "rules[0].match.affiliate_customers_gte"),
        ([{"match": {"affiliate_revenue_gte": 100}, "exclude": True}], "rules[0].match.affiliate_revenue_gte"),
        (
            [{"match": {"affiliate_revenue_gte": {"amount": 100}}, "exclude": True}],
            "rules[0].match.affiliate_revenue_gte.currency",
        ),
        ([{"match": {}, "exclude": False}], "rules[0].exclude"),
        ([{"match": {}, "exclude": True, "commission": {"type": "percent", "bps": 1}}], "rules[0].exclude"),
        ([{"match": {}}], "rules[0].commission"),
        ([{"commission": {"type": "percent", "bps": 1}}], "rules[0].match"),
        ([{"match": {}, "exclude": True, "why": "x"}], "rules[0].why"),
        ([{"match": {}, "exclude": True, "label": "x" * 101}], "rules[0].label"),
        (["prod_A"], "rules[0]"),
        ([{"match": {}, "exclude": True}] * 51, "rules"),
    ],
)
def test_bad_rules_are_refused_naming_the_bad_path(rules, path):
    with pytest.raises(RuleError) as caught:
        validate_rules(rules)
    assert caught.value.path == path
    assert caught.value.message


def test_rules_read_as_sentences():
    [a, b, c] = validate_rules(
        [
            {"match": {"product": "prod_A"}, "commission": {"type": "percent", "bps": 3050}, "label": "Pro"},
            {
                "match": {"recurring": False, "affiliate_customers_gte": 10},
                "commission": {"type": "fixed", "amount": 500, "currency": "jpy"},
            },
            {"match": {}, "exclude": True},
        ]
    )
    assert describe_rule(a) == "Pro: product prod_A → 30.5%"
    assert describe_rule(b) == "a customer's first payment and the affiliate has at least 10 customers → ¥500"
    assert describe_rule(c) == "every payment → nothing"


# --- deciding -------------------------------------------------------------------------------------------------------

RULES = validate_rules(
    [
        {"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}},
        {"match": {"price": "price_addon"}, "commission": {"type": "fixed", "amount": 500, "currency": "usd"}},
        {"match": {"product": "prod_gift"}, "exclude": True},
        {"match": {"recurring": True, "affiliate_customers_gte": 10}, "commission": {"type": "percent", "bps": 2500}},
    ]
)


def test_the_first_matching_rule_decides_each_line_and_the_rest_fall_back():
    lines = [
        Line(4900, product="prod_pro", price="price_pro"),
        Line(1000, product="prod_addon", price="price_addon"),
        Line(2500, product="prod_gift"),
        Line(1600, product="prod_other"),
    ]
    pricing = commission_for_lines(RULES, lines, context(10000))
    assert [line.base_amount for line in pricing.lines] == [4900, 1000, 2500, 1600]
    assert [line.amount for line in pricing.lines] == [1470, 500, 0, 320]
    assert [line.decision.index for line in pricing.lines] == [0, 1, 2, None]
    assert pricing.amount == 2290 and pricing.currency == "usd"
    assert pricing.commission_fields()["rule_source"] == "lines"


def test_conditions_on_the_payment_and_the_affiliate():
    line = [Line(10000, product="prod_other")]
    assert commission_for_lines(RULES, line, context(10000, is_recurring=True, affiliate_customers=9)).amount == 2000
    tier = commission_for_lines(RULES, line, context(10000, is_recurring=True, affiliate_customers=10))
    assert tier.amount == 2500 and tier.decision.index == 3
    assert tier.commission_fields() == {
        "rule_source": "rule",
        "rule_type": "percent",
        "rule_bps": 2500,
        "rule_amount": None,
        "rule_index": 3,
    }
    revenue = validate_rules(
        [
            {
                "match": {"affiliate_revenue_gte": {"amount": 50000, "currency": "usd"}},
                "commission": {"type": "percent", "bps": 5000},
            }
        ]
    )
    assert (
        commission_for_lines(revenue, [], context(1000, affiliate_revenue={"usd": 49999, "eur": 90000})).amount == 200
    )
    assert commission_for_lines(revenue, [], context(1000, affiliate_revenue={"usd": 50000})).amount == 500


def test_a_fixed_amount_applies_only_to_payments_in_its_currency_and_once_per_payment():
    lines = [Line(1000, price="price_addon"), Line(3000, price="price_addon")]
    usd = commission_for_lines(RULES, lines, context(4000))
    assert usd.amount == 500 and [line.amount for line in usd.lines] == [125, 375]
    eur = commission_for_lines(RULES, lines, context(4000, currency="eur"))
    assert eur.amount == 800 and eur.decision.source == "program"  # the next rule that matches: none, so 20%


def test_a_flat_fixed_commission_keeps_its_own_currency_whatever_the_sale():
    fixed = Rule("fixed", 1500, "usd", "affiliate")
    pricing = commission_for_lines(
        [], [Line(100, product="a"), Line(900, product="b")], context(1000, "eur", fallback=fixed)
    )
    assert (pricing.amount, pricing.currency) == (1500, "usd")
    assert commission_for_lines([], [], context(0, "eur", fallback=fixed)).amount == 0


def test_tax_and_discounts_are_shared_in_proportion():
    # 60.00 + 40.00 of items, a 10.00 discount on the whole order: the 90.00 paid (tax excluded) falls 54/36.
    pricing = commission_for_lines(RULES, [Line(6000, product="prod_pro"), Line(4000, product="x")], context(9000))
    assert [line.base_amount for line in pricing.lines] == [5400, 3600]
    assert pricing.amount == 1620 + 720
    # A coupon on one line only: that line's own discount counts first.
    pricing = commission_for_lines(
        RULES, [Line(6000, product="prod_pro", discount=6000), Line(4000, product="x")], context(4000)
    )
    assert [line.base_amount for line in pricing.lines] == [0, 4000]


def test_a_payment_the_rules_exclude_earns_nothing():
    pricing = commission_for_lines(RULES, [Line(2500, product="prod_gift")], context(2500))
    assert pricing.amount == 0 and pricing.is_excluded
    assert pricing.commission_fields()["rule_type"] == "exclude"


def test_one_percentage_for_every_line_is_the_percentage_of_the_whole():
    lines = [Line(333), Line(333), Line(334)]
    assert commission_for_lines([], lines, context(1001)).amount == money.percent_of(1001, 2000) == 200


def test_allocation_gives_leftover_units_to_the_largest_remainders():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(10, [0, 0]) == [5, 5]
    assert allocate(0, [5, 5]) == [0, 0]
    assert allocate(7, [2, 1]) == [5, 2]


# --- the property: no minor unit lost or invented -------------------------------------------------------------------

CURRENCIES = {"usd": 10**7, "eur": 10**7, "jpy": 10**6, "kwd": 10**8}  # the largest line amount, in minor units

PRODUCTS = ["prod_pro", "prod_addon", "prod_gift", "prod_other", ""]

any_rules = st.lists(
    st.fixed_dictionaries(
        {"match": st.fixed_dictionaries({}, optional={"product": st.sampled_from(PRODUCTS[:4])})},
        optional={"exclude": st.just(True)},
    ).flatmap(
        lambda rule: (
            st.just(rule)
            if "exclude" in rule
            else st.one_of(
                st.builds(lambda bps: {**rule, "commission": {"type": "percent", "bps": bps}}, st.integers(0, 10000)),
                st.builds(
                    lambda amount, currency: {
                        **rule,
                        "commission": {"type": "fixed", "amount": amount, "currency": currency},
                    },
                    st.integers(0, 10**6),
                    st.sampled_from(list(CURRENCIES)),
                ),
            )
        )
    ),
    max_size=5,
)


@st.composite
def payments(draw):
    currency = draw(st.sampled_from(list(CURRENCIES)))
    largest = CURRENCIES[currency]
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        amount = draw(st.integers(0, largest))
        lines.append(
            Line(
                amount=amount,
                product=draw(st.sampled_from(PRODUCTS)),
                discount=draw(st.integers(0, amount)),  # a coupon on this line
            )
        )
    after_line_discounts = sum(line.amount - line.discount for line in lines)
    order_discount = draw(st.integers(0, after_line_discounts))  # a coupon on the whole order
    tax = draw(st.integers(0, largest))
    paid = after_line_discounts - order_discount + tax
    return currency, lines, paid - tax  # what the payment earns on: paid, tax excluded


@settings(max_examples=400, deadline=None)
@given(payment=payments(), rules=any_rules, bps=st.integers(0, 10000))
def test_lines_share_the_payment_exactly_and_earn_an_exact_total(payment, rules, bps):
    currency, lines, base = payment
    rules = validate_rules(rules)
    pricing = commission_for_lines(rules, lines, context(base, currency, fallback=Rule("percent", bps, "", "program")))

    # The payment's base is shared out whole: no minor unit lost or invented, each share within one of its exact part.
    bases = [line.base_amount for line in pricing.lines]
    assert sum(bases) == base and min(bases) >= 0
    weights = [line.amount - line.discount for line in lines]
    if sum(weights) > 0:
        for share, weight in zip(bases, weights, strict=True):
            assert abs(share - Fraction(base * weight, sum(weights))) < 1

    # Each line earns its exact due to within a minor unit, and the lines add up to the total, which is the exact
    # sum rounded half-up.
    exact = []
    groups: dict = {}
    for earning in pricing.lines:
        decision = earning.decision
        if decision.kind == "percent":
            exact.append(Fraction(earning.base_amount * decision.bps, 10000))
        else:
            exact.append(Fraction(0))
            if decision.kind == "fixed" and decision.currency == pricing.currency:
                groups.setdefault(decision, []).append(len(exact) - 1)
    for decision, members in groups.items():
        group_base = sum(pricing.lines[i].base_amount for i in members)
        for i in members:
            if group_base:
                exact[i] += Fraction(decision.amount * pricing.lines[i].base_amount, group_base)
    assert sum(line.amount for line in pricing.lines) == pricing.amount
    assert pricing.amount == int(sum(exact) + Fraction(1, 2))
    for earning, due in zip(pricing.lines, exact, strict=True):
        assert earning.amount >= 0 and abs(earning.amount - due) < 1
    if not rules:
        assert pricing.amount == money.percent_of(base, bps)  # one rate for the whole payment, as without lines
