"""The rule editor of a program's page: one row per rule, "When [product] is [prod_…] → pay [30 %]", and the preview.

A row has a condition and an optional second one ("and …"), what it pays (a percentage, a fixed amount in a
currency, or nothing) and an optional label shown to affiliates. Rows are a formset with a position (reordering)
and a remove box; a blank row at the end adds a rule. `rules_from_rows` turns the rows into the JSON rules of
affiliates/rules.py and checks them with its `validate_rules`, so the editor can save nothing the API would refuse.
Nothing here writes.
"""

from __future__ import annotations

from django import forms

from affiliates import money
from affiliates.rules import MAX_RULES, STRIPE_ID, RuleError, validate_rules

from .forms import CURRENCIES, bps_to_percent, parse_amount, percent_to_bps

WHEN = (
    ("product", "product"),
    ("price", "price"),
    ("payment", "payment"),
    ("currency", "currency"),
    ("customers", "affiliate's customers"),
    ("revenue", "affiliate's revenue"),
    ("any", "any payment"),
)
AND_WHEN = (("", "(no second condition)"), *[(k, v) for k, v in WHEN if k != "any"])
PAYMENT = (("new", "a new customer's first payment"), ("recurring", "a recurring payment"))
PAY = (("percent", "a percentage"), ("fixed", "a fixed amount"), ("nothing", "nothing"))
MATCH_KEY = {
    "product": "product",
    "price": "price",
    "payment": "recurring",
    "currency": "currency",
    "customers": "affiliate_customers_gte",
    "revenue": "affiliate_revenue_gte",
}


def _text(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"autocomplete": "off", **attrs})


class RuleRowForm(forms.Form):
    # Initial values are what a browser sends for an untouched row, so the blank row counts as unchanged.
    when = forms.ChoiceField(choices=WHEN, label="When", initial="product")
    value = forms.CharField(required=False, max_length=255, label="is", widget=_text(placeholder="prod_… / price_…"))
    payment = forms.ChoiceField(choices=PAYMENT, required=False, label="is", initial="new")
    value_currency = forms.ChoiceField(choices=CURRENCIES, required=False, label="in")
    and_when = forms.ChoiceField(choices=AND_WHEN, required=False, label="and")
    and_value = forms.CharField(required=False, max_length=255, label="is", widget=_text())
    and_payment = forms.ChoiceField(choices=PAYMENT, required=False, label="is", initial="new")
    and_value_currency = forms.ChoiceField(choices=CURRENCIES, required=False, label="in")
    pay = forms.ChoiceField(choices=PAY, label="→ pay", initial="percent")
    percent = forms.CharField(required=False, label="%", widget=_text(inputmode="decimal", size=5))
    amount = forms.CharField(required=False, label="amount", widget=_text(inputmode="decimal", size=7))
    currency = forms.ChoiceField(choices=CURRENCIES, required=False, label="currency")
    label = forms.CharField(
        required=False, max_length=100, label="Shown to affiliates as", widget=_text(placeholder="e.g. Pro plan")
    )

    def __init__(self, *args, currency: str = "usd", **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("value_currency", "and_value_currency", "currency"):
            self.fields[name].initial = currency

    def has_changed(self) -> bool:
        # The position the page's script numbers every row with does not make the blank row a rule.
        return any(name not in ("ORDER", "DELETE") for name in self.changed_data)

    def _condition(self, prefix: str) -> tuple[str, object] | None:
        data = self.cleaned_data
        when = data.get(f"{prefix}when")
        if not when or when == "any":
            return None
        value = (data.get(f"{prefix}value") or "").strip()
        field = f"{prefix}value"
        if when in ("product", "price"):
            if not STRIPE_ID.fullmatch(value):
                prefix_text = "prod_" if when == "product" else "price_"
                self.add_error(field, f"Enter the Stripe {when} id (it starts with {prefix_text}).")
            return MATCH_KEY[when], value
        if when == "payment":
            return "recurring", data.get(f"{prefix}payment") == "recurring"
        if when == "currency":
            if len(value) != 3 or not value.isalpha():
                self.add_error(field, "Enter a three-letter currency code, e.g. USD.")
            return "currency", value.lower()
        if when == "customers":
            if not value.isdigit() or int(value) > 10**9:
                self.add_error(field, "Enter a number of customers, e.g. 10.")
                return None
            return "affiliate_customers_gte", int(value)
        currency = data.get(f"{prefix}value_currency") or "usd"
        try:
            return "affiliate_revenue_gte", {"amount": parse_amount(value, currency), "currency": currency}
        except forms.ValidationError as exc:
            self.add_error(field, exc)
            return None

    def clean(self):
        data = super().clean()
        match: dict = {}
        for prefix in ("", "and_"):
            condition = self._condition(prefix)
            if condition is not None:
                key, value = condition
                if key in match:
                    self.add_error("and_when", "Use each kind of condition once in a rule.")
                match[key] = value
        rule: dict = {"match": match}
        pay = data.get("pay")
        if pay == "percent":
            try:
                rule["commission"] = {"type": "percent", "bps": percent_to_bps(data.get("percent") or "")}
            except forms.ValidationError as exc:
                self.add_error("percent", exc)
        elif pay == "fixed":
            currency = data.get("currency") or "usd"
            try:
                amount = parse_amount(data.get("amount") or "", currency)
                rule["commission"] = {"type": "fixed", "amount": amount, "currency": currency}
            except forms.ValidationError as exc:
                self.add_error("amount", exc)
        else:
            rule["exclude"] = True
        if (data.get("label") or "").strip():
            rule["label"] = data["label"].strip()
        data["rule"] = rule
        return data


class BaseRuleFormSet(forms.BaseFormSet):
    """The rows; once valid, `rules` holds their rules in their positions, checked by validate_rules."""

    rules: list[dict]

    def clean(self):
        super().clean()
        if any(form.errors for form in self.forms if not self._should_delete_form(form)):
            return
        # ordered_forms leaves out the removed rows and the blank row nobody filled in.
        rules = [form.cleaned_data["rule"] for form in self.ordered_forms if "rule" in form.cleaned_data]
        try:
            self.rules = validate_rules(rules)
        except RuleError as exc:
            position = int(exc.path.split("[", 1)[1].split("]", 1)[0]) + 1 if "[" in exc.path else None
            raise forms.ValidationError(f"Rule {position}: {exc.message}" if position else exc.message) from None


RuleFormSet = forms.formset_factory(
    RuleRowForm,
    formset=BaseRuleFormSet,
    extra=1,
    can_order=True,
    can_delete=True,
    max_num=MAX_RULES,
    validate_max=True,
)


def _condition_initial(prefix: str, key: str, value) -> dict:
    when = {v: k for k, v in MATCH_KEY.items()}[key]
    initial: dict = {f"{prefix}when": when}
    if key == "recurring":
        initial[f"{prefix}payment"] = "recurring" if value else "new"
    elif key == "affiliate_revenue_gte":
        initial[f"{prefix}value"] = money.to_major(value["amount"], value["currency"])
        initial[f"{prefix}value_currency"] = value["currency"]
    elif key == "currency":
        initial[f"{prefix}value"] = value.upper()
    else:
        initial[f"{prefix}value"] = str(value)
    return initial


def rows_from_rules(rules: list[dict]) -> list[dict] | None:
    """The editor's rows for `rules`, or None when a rule has more conditions than a row shows (two): such rules
    are edited through the API."""
    rows = []
    for position, rule in enumerate(rules, start=1):
        conditions = list(rule["match"].items())
        if len(conditions) > 2:
            return None
        row: dict = {"when": "any", "ORDER": position, "label": rule.get("label", "")}
        for prefix, (key, value) in zip(("", "and_"), conditions, strict=False):
            row.update(_condition_initial(prefix, key, value))
        if rule.get("exclude"):
            row["pay"] = "nothing"
        elif rule["commission"]["type"] == "percent":
            row.update(pay="percent", percent=bps_to_percent(rule["commission"]["bps"]))
        else:
            commission = rule["commission"]
            row.update(
                pay="fixed",
                amount=money.to_major(commission["amount"], commission["currency"]),
                currency=commission["currency"],
            )
        rows.append(row)
    return rows


class PreviewForm(forms.Form):
    """A payment to try the rules on: who referred it, what was bought, how much, new or recurring."""

    preview_affiliate = forms.CharField(
        required=False,
        max_length=254,
        label="Affiliate",
        help_text="Code or email; empty for any affiliate.",
        widget=_text(list="preview-affiliates"),
    )
    preview_product = forms.CharField(
        required=False, max_length=255, label="Product", widget=_text(list="preview-products", placeholder="prod_…")
    )
    preview_price = forms.CharField(
        required=False, max_length=255, label="Price", widget=_text(list="preview-products", placeholder="price_…")
    )
    preview_amount = forms.CharField(
        required=False, label="Amount paid (tax excluded)", widget=_text(inputmode="decimal", placeholder="49.00")
    )
    preview_currency = forms.ChoiceField(choices=CURRENCIES, required=False, label="Currency")
    preview_payment = forms.ChoiceField(choices=PAYMENT, required=False, label="Payment")

    def clean(self):
        data = super().clean()
        currency = data.get("preview_currency") or "usd"
        data["preview_currency"] = currency
        try:
            data["amount_minor"] = parse_amount(data.get("preview_amount") or "", currency)
        except forms.ValidationError as exc:
            self.add_error("preview_amount", exc)
        return data
