"""A program's commission rules: checking them, matching a payment's lines, and what each line earns.

Pure functions over plain values (no database, no Stripe): `commission_for_lines` is the one computation that
recording a commission, repricing it and the dashboard's preview all call. The impure part (the affiliate's
customer count and revenue, the program's fallback) is gathered by affiliates/services/pricing.py.

Rules are JSON (README, "Programs and rules"), kept on `Program.rules` as a list checked by `validate_rules` on every
write (the API's `rules` and the dashboard's rule editor both go through it):

    {"match": {"product": "prod_..."}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro plan"}
    {"match": {"price": "price_..."}, "commission": {"type": "fixed", "amount": 500, "currency": "usd"}}
    {"match": {"product": "prod_..."}, "exclude": true}
    {"match": {"affiliate_customers_gte": 10}, "commission": {"type": "percent", "bps": 2500}}

A match's conditions all hold (an empty match is every payment); the first rule that matches a line decides it;
a line no rule matches earns the affiliate's override or the program's commission (the fallback). A fixed amount
matches only payments in its currency, and is paid once per payment, shared among the lines it decides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .models import CommissionType, RuleSource, RuleType

if TYPE_CHECKING:
    from .models import Commission

MAX_RULES = 50
MAX_AMOUNT = 10**12  # minor units; far above any real payment, well inside a bigint
MAX_COUNT = 10**9
MAX_LABEL = 100
STRIPE_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
CURRENCY = re.compile(r"[A-Za-z]{3}")
MATCH_KEYS = ("product", "price", "recurring", "currency", "affiliate_customers_gte", "affiliate_revenue_gte")
RULE_KEYS = ("match", "commission", "exclude", "label")


class RuleError(ValueError):
    """A rule that is not one of the shapes above; `path` names the bad part, e.g. "rules[1].commission.bps"."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.message = message
        self.path = path


# --- checking -------------------------------------------------------------------------------------------------------


def validate_rules(value: Any, *, path: str = "rules") -> list[dict]:
    """The rules in their canonical form (currencies lower-cased, keys in a fixed order), or RuleError."""
    if not isinstance(value, list):
        raise RuleError("Give the rules as a list (an empty list for none).", path)
    if len(value) > MAX_RULES:
        raise RuleError(f"A program has at most {MAX_RULES} rules.", path)
    return [_rule(rule, f"{path}[{index}]") for index, rule in enumerate(value)]


def _rule(rule: Any, path: str) -> dict:
    if not isinstance(rule, dict):
        raise RuleError('A rule is an object: {"match": {...}, "commission": {...}} or with "exclude": true.', path)
    for key in rule:
        if key not in RULE_KEYS:
            raise RuleError(
                f"Unknown key {key!r}: a rule has match, commission or exclude, and label.", f"{path}.{key}"
            )
    if "match" not in rule:
        raise RuleError("Say which payments the rule is for (an empty match is every payment).", f"{path}.match")
    clean: dict = {"match": _match(rule["match"], f"{path}.match")}
    if "exclude" in rule:
        if rule["exclude"] is not True:
            raise RuleError("exclude is true (the rule pays nothing) or left out.", f"{path}.exclude")
        if "commission" in rule:
            raise RuleError("Give either a commission or exclude: true, not both.", f"{path}.exclude")
        clean["exclude"] = True
    elif "commission" in rule:
        clean["commission"] = _commission(rule["commission"], f"{path}.commission")
    else:
        raise RuleError("Say what the rule pays: a commission, or exclude: true.", f"{path}.commission")
    if "label" in rule:
        label = rule["label"]
        if not isinstance(label, str) or len(label) > MAX_LABEL:
            raise RuleError(f"A label is a string of at most {MAX_LABEL} characters.", f"{path}.label")
        if label.strip():
            clean["label"] = label.strip()
    return clean


def _match(match: Any, path: str) -> dict:
    if not isinstance(match, dict):
        raise RuleError(f"A match is an object with any of: {', '.join(MATCH_KEYS)}.", path)
    clean: dict = {}
    for key in MATCH_KEYS:  # canonical order
        if key not in match:
            continue
        value, at = match[key], f"{path}.{key}"
        if key in ("product", "price"):
            if not isinstance(value, str) or not STRIPE_ID.fullmatch(value):
                raise RuleError(f"A Stripe {key} id, e.g. {'prod_' if key == 'product' else 'price_'}….", at)
            clean[key] = value
        elif key == "recurring":
            if not isinstance(value, bool):
                raise RuleError("true (recurring payments) or false (a customer's first payment).", at)
            clean[key] = value
        elif key == "currency":
            clean[key] = _currency(value, at)
        elif key == "affiliate_customers_gte":
            clean[key] = _integer(value, at, maximum=MAX_COUNT, what="A number of customers")
        else:
            clean[key] = _money(value, at)
    for key in match:
        if key not in MATCH_KEYS:
            raise RuleError(f"Unknown condition {key!r}: use {', '.join(MATCH_KEYS)}.", f"{path}.{key}")
    return clean


def _commission(commission: Any, path: str) -> dict:
    if not isinstance(commission, dict) or commission.get("type") not in (CommissionType.PERCENT, CommissionType.FIXED):
        raise RuleError(
            'Give {"type": "percent", "bps": …} or {"type": "fixed", "amount": …, "currency": …}.',
            f"{path}.type" if isinstance(commission, dict) else path,
        )
    if commission["type"] == CommissionType.PERCENT:
        _only(commission, ("type", "bps"), path)
        if "bps" not in commission:
            raise RuleError("Give the percentage in basis points (2500 = 25%).", f"{path}.bps")
        bps = _integer(commission["bps"], f"{path}.bps", maximum=10000, what="Basis points (0 to 10000)")
        return {"type": CommissionType.PERCENT.value, "bps": bps}
    _only(commission, ("type", "amount", "currency"), path)
    return {"type": CommissionType.FIXED.value, **_money(commission, path)}


def _money(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise RuleError('An amount is {"amount": <minor units>, "currency": "usd"}.', path)
    _only(value, ("type", "amount", "currency") if "type" in value else ("amount", "currency"), path)
    if "amount" not in value:
        raise RuleError("Give the amount, in the currency's minor unit.", f"{path}.amount")
    if "currency" not in value:
        raise RuleError("Give the amount's currency, e.g. usd.", f"{path}.currency")
    return {
        "amount": _integer(value["amount"], f"{path}.amount", maximum=MAX_AMOUNT, what="An amount in minor units"),
        "currency": _currency(value["currency"], f"{path}.currency"),
    }


def _only(value: dict, allowed: tuple[str, ...], path: str) -> None:
    for key in value:
        if key not in allowed:
            raise RuleError(f"Unknown key {key!r}: use {', '.join(allowed)}.", f"{path}.{key}")


def _integer(value: Any, path: str, *, maximum: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise RuleError(f"{what}: a whole number from 0 to {maximum}.", path)
    return value


def _currency(value: Any, path: str) -> str:
    if not isinstance(value, str) or not CURRENCY.fullmatch(value):
        raise RuleError("A three-letter ISO currency code, e.g. usd.", path)
    return value.lower()


def needs_lines(rules: Sequence[dict]) -> bool:
    """Whether any rule looks at what was bought (so a payment's line items are worth fetching)."""
    return any("product" in rule["match"] or "price" in rule["match"] for rule in rules)


def needs_customer_count(rules: Sequence[dict]) -> bool:
    return any("affiliate_customers_gte" in rule["match"] for rule in rules)


def revenue_currencies(rules: Sequence[dict]) -> set[str]:
    return {
        rule["match"]["affiliate_revenue_gte"]["currency"] for rule in rules if "affiliate_revenue_gte" in rule["match"]
    }


# --- what a payment earns -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A flat commission: the program's own, or an affiliate's override (what a line no rule matches earns)."""

    kind: str  # CommissionType
    value: int  # basis points, or a fixed amount in the minor unit of `currency`
    currency: str  # a fixed amount's; "" for a percentage
    origin: str  # RuleSource: "program" or "affiliate"

    @classmethod
    def of_commission(cls, commission: Commission) -> Rule:
        """The flat rule a commission was computed with (a fixed amount is in the commission's currency)."""
        if commission.rule_type == CommissionType.PERCENT:
            return cls(CommissionType.PERCENT, commission.rule_bps or 0, "", commission.rule_source)
        return cls(CommissionType.FIXED, commission.rule_amount or 0, commission.currency, commission.rule_source)

    def commission_fields(self) -> dict:
        """The Commission fields that record this rule."""
        percent = self.kind == CommissionType.PERCENT
        return {
            "rule_source": self.origin,
            "rule_type": self.kind,
            "rule_bps": self.value if percent else None,
            "rule_amount": None if percent else self.value,
            "rule_index": None,
        }


@dataclass(frozen=True)
class Line:
    """One line item of a payment: its amount (price × quantity, minor units, before discounts and tax), what was
    bought, and the discounts on this line where the payment lists them."""

    amount: int
    product: str = ""
    price: str = ""
    discount: int = 0
    # The merchant excluded its product in Stripe (metadata `afficone: "false"`): it earns nothing, whatever the rules.
    excluded: bool = False


@dataclass(frozen=True)
class PaymentContext:
    """What the rules read of the payment as a whole, and of the affiliate."""

    base_amount: int  # what the payment earns on: paid, tax excluded (discounts already taken off)
    currency: str
    fallback: Rule
    is_recurring: bool = False
    affiliate_customers: int = 0  # the affiliate's customers, this payment's included
    affiliate_revenue: Mapping[str, int] = field(default_factory=dict)  # per currency, before this payment


@dataclass(frozen=True)
class Decision:
    """What decided a line: a rule of the program (`index` into its rules), or the fallback."""

    source: str  # RuleSource.RULE, PROGRAM, AFFILIATE, or METADATA (a line whose product is excluded)
    index: int | None
    kind: str  # RuleType.PERCENT, FIXED or EXCLUDE
    bps: int | None = None
    amount: int | None = None
    currency: str = ""  # a fixed amount's


@dataclass(frozen=True)
class LineEarning:
    line: Line
    base_amount: int  # the line's share of the payment's base
    amount: int  # what it earns, in the pricing's currency
    decision: Decision

    def as_json(self) -> dict:
        return {
            "product": self.line.product,
            "price": self.line.price,
            "base_amount": self.base_amount,
            "amount": self.amount,
            "rule_source": self.decision.source,
            "rule_index": self.decision.index,
        }


@dataclass(frozen=True)
class Pricing:
    amount: int
    currency: str
    lines: tuple[LineEarning, ...]

    @property
    def decision(self) -> Decision | None:
        """The one decision behind every line, or None when the lines were decided differently."""
        decisions = {line.decision for line in self.lines}
        return decisions.pop() if len(decisions) == 1 else None

    @property
    def is_excluded(self) -> bool:
        return all(line.decision.kind == RuleType.EXCLUDE for line in self.lines)

    def commission_fields(self) -> dict:
        """The Commission's named rule fields (rule_source, rule_type, rule_bps, rule_amount, rule_index)."""
        decision = self.decision
        if decision is None:
            return {
                "rule_source": RuleSource.LINES,
                "rule_type": RuleType.MIXED,
                "rule_bps": None,
                "rule_amount": None,
                "rule_index": None,
            }
        return {
            "rule_source": decision.source,
            "rule_type": decision.kind,
            "rule_bps": decision.bps,
            "rule_amount": decision.amount,
            "rule_index": decision.index,
        }


def decide(rules: Sequence[dict], line: Line, context: PaymentContext) -> Decision:
    """The first rule whose conditions all hold for `line` of this payment, else the fallback; nothing for a line
    whose product the merchant excluded."""
    if line.excluded:
        return Decision(RuleSource.METADATA, None, RuleType.EXCLUDE)
    for index, rule in enumerate(rules):
        if not _matches(rule["match"], line, context):
            continue
        if rule.get("exclude"):
            return Decision(RuleSource.RULE, index, RuleType.EXCLUDE)
        commission = rule["commission"]
        if commission["type"] == CommissionType.PERCENT:
            return Decision(RuleSource.RULE, index, RuleType.PERCENT, bps=commission["bps"])
        if commission["currency"] == context.currency:  # a fixed amount in another currency does not apply
            return Decision(
                RuleSource.RULE, index, RuleType.FIXED, amount=commission["amount"], currency=context.currency
            )
    fallback = context.fallback
    if fallback.kind == CommissionType.PERCENT:
        return Decision(fallback.origin, None, RuleType.PERCENT, bps=fallback.value)
    return Decision(fallback.origin, None, RuleType.FIXED, amount=fallback.value, currency=fallback.currency)


def _matches(match: dict, line: Line, context: PaymentContext) -> bool:
    for key, wanted in match.items():
        if key == "product" and line.product != wanted:
            return False
        if key == "price" and line.price != wanted:
            return False
        if key == "recurring" and context.is_recurring != wanted:
            return False
        if key == "currency" and context.currency != wanted:
            return False
        if key == "affiliate_customers_gte" and context.affiliate_customers < wanted:
            return False
        if key == "affiliate_revenue_gte" and context.affiliate_revenue.get(wanted["currency"], 0) < wanted["amount"]:
            return False
    return True


def commission_for_lines(rules: Sequence[dict], lines: Sequence[Line], context: PaymentContext) -> Pricing:
    """What a payment earns, line by line.

    The payment's base (tax excluded) is shared out across its lines in proportion to what each line cost after
    its own discounts, so the payment's tax and its other discounts fall on the lines in proportion; each line is
    decided by `decide`. A percentage earns its share of the line's base exactly; a fixed amount is earned once per
    payment (when the lines it decides have a base), shared among them in proportion. The total is the exact sum
    rounded half-up to the minor unit, and the lines' amounts add up to it (largest remainders), so no minor unit is
    lost or invented either time. No lines (a PaymentIntent) is one line of the whole base.
    """
    if context.base_amount < 0:
        raise ValueError("A payment's base amount is zero or more.")
    lines = list(lines) or [Line(amount=context.base_amount)]
    weights = [max(line.amount - line.discount, 0) for line in lines]
    if not any(weights):
        weights = [max(line.amount, 0) for line in lines]
    bases = allocate(context.base_amount, weights)
    decisions = [decide(rules, line, context) for line in lines]
    currency = context.currency
    if len(set(decisions)) == 1 and decisions[0].kind == RuleType.FIXED:
        currency = decisions[0].currency  # a flat fixed commission is paid in its own currency, whatever the sale
    exact = [Fraction(0)] * len(lines)
    fixed: dict[Decision, list[int]] = {}
    for i, decision in enumerate(decisions):
        if decision.kind == RuleType.PERCENT:
            exact[i] = Fraction(bases[i] * (decision.bps or 0), 10000)
        elif decision.kind == RuleType.FIXED and decision.currency == currency:
            fixed.setdefault(decision, []).append(i)
    for decision, members in fixed.items():
        group_base = sum(bases[i] for i in members)
        for i in members:
            if group_base > 0:
                exact[i] += Fraction((decision.amount or 0) * bases[i], group_base)
    total = math.floor(sum(exact, Fraction(0)) + Fraction(1, 2))
    amounts = round_to_total(exact, total)
    earnings = tuple(LineEarning(*parts) for parts in zip(lines, bases, amounts, decisions, strict=True))
    return Pricing(amount=total, currency=currency, lines=earnings)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """`total` (≥ 0) shared in proportion to `weights` (≥ 0; all zero shares equally), in integers that add up to
    `total` exactly: each share rounded down, then the units left over to the largest remainders (the first
    lines first on a tie). Each share is within one unit of its exact value."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    left = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def round_to_total(exact: Sequence[Fraction], total: int) -> list[int]:
    """Exact amounts rounded to integers that add up to `total` (the rounded sum): each rounded down, then one more
    unit for the largest fractional parts. Each result is within one unit of its exact amount."""
    floors = [math.floor(value) for value in exact]
    left = total - sum(floors)
    by_fraction = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_fraction[:left]:
        floors[i] += 1
    return floors
