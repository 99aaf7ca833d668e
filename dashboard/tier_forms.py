"""A program page's tiers and bonuses: "Move affiliates up to [Gold] when they reach [10] [customers] [in the last
30 days], [automatically]" and one row per bonus, "At [10] [customers] → a bonus of [50.00] [USD]".

They turn into the `next_tier` and `bonuses` of affiliates.services.update_program, checked there by
affiliates/tiers.py (so the page can save nothing the API would refuse). Nothing here writes.
"""

from __future__ import annotations

from django import forms

from affiliates import money
from affiliates.models import Program
from affiliates.tiers import BONUS_ID, MAX_BONUSES, PERIODS

from .forms import CURRENCIES, parse_amount

METRICS = (("customers", "customers"), ("revenue", "revenue"))
PERIOD_CHOICES = (("", "over all time"), *[(str(days), f"in the last {days} days") for days in PERIODS])


def _when(form: forms.Form, metric: str, value: str, currency: str, field: str) -> dict | None:
    """The threshold a row names, or None with an error on `field`."""
    value = (value or "").strip()
    if metric == "customers":
        if not value.isdigit() or not 1 <= int(value) <= 10**9:
            form.add_error(field, "Enter a number of customers, e.g. 10.")
            return None
        return {"affiliate_customers_gte": int(value)}
    try:
        amount = parse_amount(value, currency, field_label="revenue")
    except forms.ValidationError as exc:
        form.add_error(field, exc)
        return None
    if amount < 1:
        form.add_error(field, "Enter an amount of revenue above zero.")
        return None
    return {"affiliate_revenue_gte": {"amount": amount, "currency": currency}}


def _initial_when(when: dict, default_currency: str) -> dict:
    if "affiliate_customers_gte" in when:
        return {"metric": "customers", "value": str(when["affiliate_customers_gte"]), "currency": default_currency}
    revenue = when["affiliate_revenue_gte"]
    return {
        "metric": "revenue",
        "value": money.to_major(revenue["amount"], revenue["currency"]),
        "currency": revenue["currency"],
    }


class NextTierForm(forms.Form):
    """The program's next tier; no program chosen means none."""

    program = forms.ModelChoiceField(
        queryset=Program.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label="(no next tier)",
        label="Move affiliates up to",
    )
    value = forms.CharField(required=False, max_length=30, label="when they reach", widget=forms.TextInput())
    metric = forms.ChoiceField(choices=METRICS, label="of", initial="customers")
    currency = forms.ChoiceField(choices=CURRENCIES, required=False, label="in")
    period = forms.ChoiceField(choices=PERIOD_CHOICES, required=False, label="counted")
    mode = forms.ChoiceField(choices=Program.TierMode.choices, label="and move them", initial="automatic")

    def __init__(self, *args, merchant, program: Program | None, **kwargs):
        super().__init__(*args, **kwargs)
        others = Program.objects.for_merchant(merchant).filter(status=Program.Status.ACTIVE)
        if program is not None and program.pk:
            others = others.exclude(pk=program.pk)
        self.fields["program"].queryset = others.order_by("-is_default", "name", "pk")
        self.fields["currency"].initial = program.commission_currency if program else "usd"

    @classmethod
    def initial_for(cls, program: Program) -> dict:
        if program.next_tier_id is None or not program.tier_when:
            return {"currency": program.commission_currency}
        return {
            "program": program.next_tier.public_id,
            **_initial_when(program.tier_when, program.commission_currency),
            "period": str(program.tier_period_days or ""),
            "mode": program.tier_mode,
        }

    def clean(self):
        data = super().clean()
        target = data.get("program")
        if target is None:
            data["next_tier"] = None
            return data
        when = _when(self, data.get("metric"), data.get("value"), data.get("currency") or "usd", "value")
        data["next_tier"] = {
            "program": target,
            "when": when,
            "period_days": int(data["period"]) if data.get("period") else None,
            "mode": data.get("mode") or "automatic",
        }
        return data


class BonusRowForm(forms.Form):
    # Initial values are what a browser sends for an untouched row, so the blank row counts as unchanged.
    id = forms.CharField(required=False, widget=forms.HiddenInput(), max_length=40)
    value = forms.CharField(required=False, max_length=30, label="At", widget=forms.TextInput(attrs={"size": 8}))
    metric = forms.ChoiceField(choices=METRICS, label="of", initial="customers")
    value_currency = forms.ChoiceField(choices=CURRENCIES, required=False, label="in")
    amount = forms.CharField(
        required=False, label="→ a bonus of", widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 8})
    )
    currency = forms.ChoiceField(choices=CURRENCIES, required=False, label="currency")
    label = forms.CharField(
        required=False,
        max_length=100,
        label="Shown as",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Ten customers"}),
    )

    def __init__(self, *args, currency: str = "usd", **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("value_currency", "currency"):
            self.fields[name].initial = currency

    def has_changed(self) -> bool:
        return any(name != "DELETE" for name in self.changed_data)

    def clean(self):
        data = super().clean()
        bonus_id = (data.get("id") or "").strip()
        if bonus_id and not BONUS_ID.fullmatch(bonus_id):
            raise forms.ValidationError("This bonus's id was changed; reload the page.")
        when = _when(self, data.get("metric"), data.get("value"), data.get("value_currency") or "usd", "value")
        currency = data.get("currency") or "usd"
        try:
            amount = parse_amount(data.get("amount") or "", currency, field_label="bonus")
        except forms.ValidationError as exc:
            self.add_error("amount", exc)
            return data
        if amount < 1:
            self.add_error("amount", "Enter a bonus above zero.")
            return data
        if when is not None:
            bonus: dict = {"when": when, "bonus": {"amount": amount, "currency": currency}}
            if bonus_id:
                bonus = {"id": bonus_id, **bonus}
            if (data.get("label") or "").strip():
                bonus["label"] = data["label"].strip()
            data["bonus"] = bonus
        return data


class BaseBonusFormSet(forms.BaseFormSet):
    """The rows; once valid, `bonuses` holds the bonuses of the rows kept, in order (ids kept, so an edited bonus
    stays the one affiliates may already have earned)."""

    bonuses: list[dict]

    def clean(self):
        super().clean()
        if any(form.errors for form in self.forms if not self._should_delete_form(form)):
            return
        # The rows shown before (kept unless removed) and the blank row once filled in.
        self.bonuses = [
            form.cleaned_data["bonus"]
            for i, form in enumerate(self.forms)
            if (i < self.initial_form_count() or form.has_changed())
            and not self._should_delete_form(form)
            and "bonus" in form.cleaned_data
        ]


BonusFormSet = forms.formset_factory(
    BonusRowForm, formset=BaseBonusFormSet, extra=1, can_delete=True, max_num=MAX_BONUSES, validate_max=True
)


def rows_from_bonuses(bonuses: list[dict]) -> list[dict]:
    rows = []
    for bonus in bonuses:
        when = _initial_when(bonus["when"], bonus["bonus"]["currency"])
        rows.append(
            {
                "id": bonus["id"],
                "value": when["value"],
                "metric": when["metric"],
                "value_currency": when["currency"],
                "amount": money.to_major(bonus["bonus"]["amount"], bonus["bonus"]["currency"]),
                "currency": bonus["bonus"]["currency"],
                "label": bonus.get("label", ""),
            }
        )
    return rows
