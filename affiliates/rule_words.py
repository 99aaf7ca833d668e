"""A program's rules in words: for the merchant (the dashboard, a commission's recorded reason, the preview) and
for the affiliate (the portal's table of what each product earns)."""

from __future__ import annotations

from collections.abc import Sequence

from . import money
from .models import CommissionType, RuleSource
from .rules import Decision, Pricing, Rule


def describe_match(match: dict, *, to_affiliate: bool = False) -> str:
    """ "product prod_X and a recurring payment", for people; "every payment" for an empty match. `to_affiliate`
    speaks to the affiliate ("you have at least 10 customers")."""
    who, whose = ("you have", "your") if to_affiliate else ("the affiliate has", "the affiliate's")
    parts = []
    for key, value in match.items():
        if key == "product":
            parts.append(f"product {value}")
        elif key == "price":
            parts.append(f"price {value}")
        elif key == "recurring":
            parts.append("a recurring payment" if value else "a customer's first payment")
        elif key == "currency":
            parts.append(f"a payment in {value.upper()}")
        elif key == "affiliate_customers_gte":
            parts.append(f"{who} at least {value} customer{'s' if value != 1 else ''}")
        elif key == "affiliate_revenue_gte":
            parts.append(
                f"{whose} customers have paid at least {money.format_money(value['amount'], value['currency'])}"
            )
    return " and ".join(parts) or "every payment"


def describe_pay(rule: dict) -> str:
    if rule.get("exclude"):
        return "nothing"
    commission = rule["commission"]
    if commission["type"] == CommissionType.PERCENT:
        return percent_text(commission["bps"])
    return money.format_money(commission["amount"], commission["currency"])


def describe_rule(rule: dict) -> str:
    """ "product prod_X → 30%" (with its label first when it has one: "Pro plan: product prod_X → 30%")."""
    text = f"{describe_match(rule['match'])} → {describe_pay(rule)}"
    return f"{rule['label']}: {text}" if rule.get("label") else text


def percent_text(bps: int) -> str:
    return f"{bps / 100:.2f}".rstrip("0").rstrip(".") + "%"


def flat_text(rule: Rule) -> str:
    if rule.kind == CommissionType.PERCENT:
        return percent_text(rule.value)
    return money.format_money(rule.value, rule.currency)


def earnings_table(rules: Sequence[dict], fallback: Rule) -> list[tuple[str, str]]:
    """What each kind of payment earns, for the affiliate: (what, pays) per rule in order, then everything else."""
    rows = [
        (rule.get("label") or describe_match(rule["match"], to_affiliate=True), describe_pay(rule))
        for rule in rules or []
    ]
    if rows:
        rows.append(("anything else", flat_text(fallback)))
    return rows


def describe_decision(decision: Decision, rules: Sequence[dict], fallback: Rule) -> str:
    """Why a line earned what it did: "rule 2 (product prod_X → 30%)", "the program's commission (20%)"."""
    if decision.source == RuleSource.RULE and decision.index is not None and decision.index < len(rules):
        return f"rule {decision.index + 1} ({describe_rule(rules[decision.index])})"
    if decision.source == RuleSource.AFFILIATE:
        return f"the affiliate's own rate ({flat_text(fallback)})"
    if decision.source == RuleSource.METADATA:
        return "the product's Stripe metadata (afficone: false)"
    return f"the program's commission ({flat_text(fallback)})"


def explain(pricing: Pricing, rules: Sequence[dict], fallback: Rule) -> str:
    """The reason a commission records: one decision, or each line's."""
    decision = pricing.decision
    if decision is not None:
        return describe_decision(decision, rules, fallback)
    parts = []
    for earning in pricing.lines:
        what = earning.line.product or earning.line.price or "other items"
        parts.append(f"{what}: {describe_decision(earning.decision, rules, fallback)}")
    return "per line: " + "; ".join(parts)


def preview_sentence(
    pricing: Pricing, rules: Sequence[dict], fallback: Rule, *, amount: int, currency: str, product: str, who: str
) -> str:
    """ "A $49.00 payment for Pro by Maya earns $9.80 because of rule 2 (Pro: product prod_PRO → 20%).": what the
    dashboard's preview says. `product` is a product or price id, named by the label of a rule about it if any."""
    label = next(
        (
            rule["label"]
            for rule in rules
            if rule.get("label") and product and product in (rule["match"].get("product"), rule["match"].get("price"))
        ),
        product,
    )
    what = f" for {label}" if label else ""
    earned = money.format_money(pricing.amount, pricing.currency) if pricing.amount else "nothing"
    return (
        f"A {money.format_money(amount, currency)} payment{what} by {who} earns {earned} "
        f"because of {explain(pricing, rules, fallback)}."
    )
