"""A program's goals: its next tier and its one-off bonuses, checked and put in words.

Pure functions over plain values (no database): affiliates/services/tiers.py measures the affiliate's results and
acts on them. Both kinds of goal name a threshold with the keys the rules use for the affiliate's results
(affiliates/rules.py):

    {"affiliate_customers_gte": 10}                                     customers who paid
    {"affiliate_revenue_gte": {"amount": 500000, "currency": "usd"}}    revenue in that currency (minor units)

A bonus, kept in `Program.bonuses` (its `id` is made when left out, and names the bonus in its commission's source):

    {"id": "b1f3a9c2", "when": {"affiliate_customers_gte": 10}, "bonus": {"amount": 5000, "currency": "usd"},
     "label": "Ten customers"}

A next tier is `Program.next_tier` with `tier_when` (one threshold), `tier_period_days` (null: all time; else the
last N days) and `tier_mode` (automatic, or after the merchant's approval).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from . import money
from .rules import MAX_AMOUNT, MAX_COUNT, MAX_LABEL, RuleError, _integer, _money

MAX_BONUSES = 20
MAX_PERIOD_DAYS = 3650
PERIODS = (30, 90, 365)  # what the dashboard offers; the API takes any number of days up to MAX_PERIOD_DAYS
BONUS_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
WHEN_KEYS = ("affiliate_customers_gte", "affiliate_revenue_gte")
BONUS_KEYS = ("id", "when", "bonus", "label")

CUSTOMERS = "customers"
REVENUE = "revenue"


@dataclass(frozen=True)
class Goal:
    """A threshold on the affiliate's results: `value` customers, or `value` minor units of revenue in `currency`,
    over the last `period_days` days (None: all time)."""

    metric: str  # CUSTOMERS or REVENUE
    value: int
    currency: str = ""
    period_days: int | None = None

    @classmethod
    def of(cls, when: dict, period_days: int | None = None) -> Goal:
        """The goal a checked `when` names."""
        if "affiliate_customers_gte" in when:
            return cls(CUSTOMERS, when["affiliate_customers_gte"], "", period_days)
        revenue = when["affiliate_revenue_gte"]
        return cls(REVENUE, revenue["amount"], revenue["currency"], period_days)

    def describe(self) -> str:
        """ "10 customers", "$5,000.00 of revenue in the last 30 days"."""
        if self.metric == CUSTOMERS:
            text = f"{self.value} customer{'s' if self.value != 1 else ''}"
        else:
            text = f"{money.format_money(self.value, self.currency)} of revenue"
        if self.period_days:
            text += f" in the last {self.period_days} day{'s' if self.period_days != 1 else ''}"
        return text


# --- checking -------------------------------------------------------------------------------------------------------


def validate_when(value: Any, path: str) -> dict:
    """One threshold on the affiliate's results, in its canonical form, or RuleError."""
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in WHEN_KEYS:
        raise RuleError(
            'Give one threshold: {"affiliate_customers_gte": N} or '
            '{"affiliate_revenue_gte": {"amount": N, "currency": "usd"}}.',
            path,
        )
    key, given = next(iter(value.items()))
    if key == "affiliate_customers_gte":
        count = _integer(given, f"{path}.{key}", maximum=MAX_COUNT, what="A number of customers")
        if count < 1:
            raise RuleError("A number of customers: 1 or more.", f"{path}.{key}")
        return {key: count}
    revenue = _money(given, f"{path}.{key}")
    if revenue["amount"] < 1:
        raise RuleError("An amount of revenue above zero.", f"{path}.{key}.amount")
    return {key: revenue}


def validate_period(value: Any, path: str) -> int | None:
    if value is None:
        return None
    days = _integer(value, path, maximum=MAX_PERIOD_DAYS, what="A number of days")
    if days < 1:
        raise RuleError(f"A number of days from 1 to {MAX_PERIOD_DAYS}, or null for all time.", path)
    return days


def validate_bonuses(value: Any, *, path: str = "bonuses", unique_ids: bool = True) -> list[dict]:
    """The bonuses in their canonical form, each with an id (made when left out), or RuleError. Two bonuses with one
    id are refused unless `unique_ids` is false (the API's field checks the shape; the service checks the ids)."""
    if not isinstance(value, list):
        raise RuleError("Give the bonuses as a list (an empty list for none).", path)
    if len(value) > MAX_BONUSES:
        raise RuleError(f"A program has at most {MAX_BONUSES} bonuses.", path)
    clean = [_bonus(bonus, f"{path}[{index}]") for index, bonus in enumerate(value)]
    if not unique_ids:
        return clean
    seen: set[str] = set()
    for index, bonus in enumerate(clean):
        if bonus["id"] in seen:
            raise RuleError(f"Two bonuses have the id {bonus['id']!r}.", f"{path}[{index}].id")
        seen.add(bonus["id"])
    return clean


def _bonus(bonus: Any, path: str) -> dict:
    if not isinstance(bonus, dict):
        raise RuleError('A bonus is an object: {"when": {...}, "bonus": {"amount": N, "currency": "usd"}}.', path)
    for key in bonus:
        if key not in BONUS_KEYS:
            raise RuleError(f"Unknown key {key!r}: a bonus has id, when, bonus and label.", f"{path}.{key}")
    bonus_id = bonus.get("id") or new_bonus_id()
    if not isinstance(bonus_id, str) or not BONUS_ID.fullmatch(bonus_id):
        raise RuleError("A bonus id is 1 to 40 letters, digits, '-' or '_' (left out, one is made).", f"{path}.id")
    if "when" not in bonus:
        raise RuleError("Say which results earn the bonus.", f"{path}.when")
    if "bonus" not in bonus:
        raise RuleError("Say what the bonus pays: an amount and its currency.", f"{path}.bonus")
    pays = _money(bonus["bonus"], f"{path}.bonus")
    if not 1 <= pays["amount"] <= MAX_AMOUNT:
        raise RuleError("A bonus of more than zero.", f"{path}.bonus.amount")
    clean = {"id": bonus_id, "when": validate_when(bonus["when"], f"{path}.when"), "bonus": pays}
    label = bonus.get("label")
    if label is not None:
        if not isinstance(label, str) or len(label) > MAX_LABEL:
            raise RuleError(f"A label is a string of at most {MAX_LABEL} characters.", f"{path}.label")
        if label.strip():
            clean["label"] = label.strip()
    return clean


def new_bonus_id() -> str:
    return secrets.token_hex(4)


# --- in words -------------------------------------------------------------------------------------------------------


def describe_bonus(bonus: dict) -> str:
    """ "$50.00 at 10 customers", and its label in brackets where it has one."""
    pays = money.format_money(bonus["bonus"]["amount"], bonus["bonus"]["currency"])
    text = f"{pays} at {Goal.of(bonus['when']).describe()}"
    return f"{text} ({bonus['label']})" if bonus.get("label") else text
