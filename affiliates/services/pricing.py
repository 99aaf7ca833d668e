"""What a payment earns: the program's flat commission (or the affiliate's override) behind its rules, the affiliate's
figures the rules read, and the Commission fields that record the result. The computation itself is the pure
affiliates.rules.commission_for_lines."""

from collections.abc import Sequence

from django.db.models import Sum

from .. import money, rule_words, rules
from ..models import REVENUE_AMOUNT, Affiliate, Commission, CommissionType, Program, Referral, RuleSource
from ..rules import Line, PaymentContext, Pricing, Rule


def program_rule(program: Program) -> Rule:
    """The program's own commission: what a payment (or a line of one) that no rule matches earns."""
    if program.commission_type == CommissionType.FIXED:
        return Rule(CommissionType.FIXED, program.commission_amount, program.commission_currency, RuleSource.PROGRAM)
    return Rule(CommissionType.PERCENT, program.commission_bps, "", RuleSource.PROGRAM)


def commission_rule(affiliate: Affiliate, program: Program | None = None) -> Rule:
    """The affiliate's override where set, else the program's rule (`program`: the affiliate's own by default)."""
    program = program or affiliate.program
    if affiliate.commission_type_override:
        kind = affiliate.commission_type_override
        if kind == CommissionType.PERCENT and affiliate.commission_bps_override is not None:
            return Rule(kind, affiliate.commission_bps_override, "", RuleSource.AFFILIATE)
        if kind == CommissionType.FIXED and affiliate.commission_amount_override is not None:
            return Rule(kind, affiliate.commission_amount_override, program.commission_currency, RuleSource.AFFILIATE)
    return program_rule(program)


def compute_commission(rule: Rule, *, base_amount: int, currency: str) -> tuple[int, str]:
    """(amount, currency) earned on `base_amount` (minor units, tax excluded), rounded half-up."""
    if rule.kind == CommissionType.FIXED:
        return (rule.value if base_amount > 0 else 0), rule.currency
    return money.percent_of(base_amount, rule.value), currency.lower()


def price_payment(
    affiliate: Affiliate,
    *,
    base_amount: int,
    currency: str,
    lines: Sequence[Line] = (),
    is_recurring: bool = False,
    referral: Referral | None = None,
    program: Program | None = None,
) -> Pricing:
    """What a payment earns the affiliate under `program`'s rules (the affiliate's program by default): the one
    computation, affiliates.rules.commission_for_lines, given what its rules read of the affiliate (counted only when
    a rule asks: the affiliate's customers, `referral`'s included, and their revenue before this payment)."""
    program = program or affiliate.program
    program_rules = program.rules or []
    customers, revenue = 0, {}
    if rules.needs_customer_count(program_rules):
        converted = Referral.objects.filter(affiliate=affiliate, converted_at__isnull=False)
        if referral is not None and referral.pk:
            converted = converted.exclude(pk=referral.pk)
        customers = converted.count() + (1 if referral is not None else 0)
    currencies = rules.revenue_currencies(program_rules)
    if currencies:
        rows = (
            Commission.objects.filter(affiliate=affiliate, currency__in=currencies)
            .exclude(status=Commission.Status.VOIDED)
            .values("currency")
            .annotate(revenue=Sum(REVENUE_AMOUNT))
            .order_by()
        )
        revenue = {row["currency"]: row["revenue"] or 0 for row in rows}
    context = PaymentContext(
        base_amount=max(base_amount, 0),
        currency=currency.lower(),
        fallback=commission_rule(affiliate, program),
        is_recurring=is_recurring,
        affiliate_customers=customers,
        affiliate_revenue=revenue,
    )
    return rules.commission_for_lines(program_rules, lines, context)


def pricing_fields(pricing: Pricing, program: Program, fallback: Rule, *, lines_known: bool) -> dict:
    """The Commission fields that record a pricing: amount, currency, the rule that decided, what it said, the lines
    (when the payment listed them), and the program; an excluded payment is recorded voided, with the reason."""
    fields = {
        "amount": pricing.amount,
        "currency": pricing.currency,
        "program_id": program.pk,
        **pricing.commission_fields(),
        "rule_description": rule_words.explain(pricing, program.rules or [], fallback)[:255],
        "lines": [line.as_json() for line in pricing.lines] if lines_known else [],
    }
    return fields


def excluded_reason(pricing: Pricing, program: Program) -> str:
    return f"Earns nothing: {rule_words.explain(pricing, program.rules or [], program_rule(program))}."[:255]


def preview_payment(
    program: Program,
    *,
    affiliate: Affiliate | None,
    amount: int,
    currency: str,
    product: str = "",
    price: str = "",
    is_recurring: bool = False,
) -> tuple[Pricing, Rule]:
    """What a payment would earn under `program` (saved or not: the dashboard previews rules before saving them),
    referred by `affiliate` (their override and figures count) or by an affiliate without an override; with the
    fallback that applied. The same computation as a real payment's."""
    line = Line(amount=amount, product=product, price=price)
    if affiliate is None:
        fallback = program_rule(program)
        context = PaymentContext(
            base_amount=amount, currency=currency.lower(), fallback=fallback, is_recurring=is_recurring
        )
        return rules.commission_for_lines(program.rules or [], [line], context), fallback
    pricing = price_payment(
        affiliate, base_amount=amount, currency=currency, lines=[line], is_recurring=is_recurring, program=program
    )
    return pricing, commission_rule(affiliate, program)
