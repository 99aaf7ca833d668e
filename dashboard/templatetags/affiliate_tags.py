"""Display helpers for money, rules and periods (formatting only; amounts stay integers in minor units)."""

from urllib.parse import urlencode

from django import template

from affiliates import money as money_module
from affiliates.models import CommissionType, Program, RuleSource, RuleType
from affiliates.services import program_rule

register = template.Library()


@register.filter
def money(amount, currency):
    """{{ commission.amount|money:commission.currency }} → "$12.34"."""
    if amount is None:
        return "—"
    return money_module.format_money(int(amount), currency or "usd")


@register.filter
def percent(bps):
    """2000 → "20%", 1250 → "12.5%"."""
    if bps is None:
        return ""
    text = f"{bps / 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


@register.filter
def rule_text(rule):
    """A Rule or a Program → "20% of each payment" / "$15.00 per payment"."""
    if isinstance(rule, Program):
        rule = program_rule(rule)
    if rule.kind == CommissionType.PERCENT:
        return f"{percent(rule.value)} of each payment"
    return f"{money_module.format_money(rule.value, rule.currency)} per payment"


@register.filter
def rule_short(commission):
    """The rule a commission recorded, in two words: "rule 2", "program rate", "own rate", "per line", "excluded"."""
    return rule_label_short(commission)


def rule_label_short(commission) -> str:
    if commission.rule_source == RuleSource.RULE and commission.rule_index is not None:
        text = f"rule {commission.rule_index + 1}"
        return f"{text}, excluded" if commission.rule_type == RuleType.EXCLUDE else text
    names = {
        RuleSource.AFFILIATE: "own rate",
        RuleSource.LINES: "per line",
        RuleSource.TWO_TIER: "two-tier",
        RuleSource.BONUS: "bonus",
    }
    return names.get(commission.rule_source, "program rate")


def line_rows(commission) -> list[dict]:
    """What each line of a commission's payment earned, for display (empty when the payment listed no lines)."""
    names = {RuleSource.PROGRAM: "program rate", RuleSource.AFFILIATE: "own rate", RuleSource.METADATA: "excluded"}
    return [
        {
            "what": line["product"] or line["price"] or "other items",
            "base": money_module.format_money(line["base_amount"], commission.currency),
            "amount": money_module.format_money(line["amount"], commission.currency),
            "rule": f"rule {line['rule_index'] + 1}"
            if line["rule_index"] is not None
            else names.get(line["rule_source"], line["rule_source"]),
        }
        for line in commission.lines or []
    ]


@register.filter
def recurring_text(program):
    if program.recurring_months is None:
        return "for as long as the customer pays"
    if program.recurring_months == 0:
        return "on the first payment only"
    return f"for {program.recurring_months} months after the first payment"


@register.simple_tag(takes_context=True)
def with_params(context, **params):
    """The current URL's query string with some parameters replaced (empty ones dropped)."""
    query = context["request"].GET.copy()
    if "page" not in params:
        query.pop("page", None)  # a new filter starts again at the first page
    for key, value in params.items():
        query.pop(key, None)
        if value not in (None, ""):
            query[key] = value
    return "?" + urlencode(sorted((k, v) for k, v in query.items() if v != ""))


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "") if mapping else ""
