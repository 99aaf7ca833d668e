"""Forms of the merchant dashboard.

Money is typed in major units ("12.50") and stored in minor units with
affiliates.money.parse_major; percentages are typed in % ("12.5") and stored
in basis points. Nothing here writes: views pass `cleaned_data` to services.
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.db.models import Q

from affiliates import money
from affiliates.importers.parse import MAX_BYTES as MAX_IMPORT_BYTES
from affiliates.models import CODE_PATTERN, PROGRAM_SLUG_PATTERN, Affiliate, CommissionType, ImportPlatform, Program

CURRENCIES = [
    ("usd", "USD"),
    ("eur", "EUR"),
    ("gbp", "GBP"),
    ("cad", "CAD"),
    ("aud", "AUD"),
    ("chf", "CHF"),
    ("jpy", "JPY"),
    ("inr", "INR"),
    ("sek", "SEK"),
    ("nok", "NOK"),
    ("dkk", "DKK"),
    ("pln", "PLN"),
    ("brl", "BRL"),
    ("kwd", "KWD"),
]


def percent_to_bps(value) -> int:
    """ "12.5" → 1250. Two decimals at most, between 0 and 100."""
    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except InvalidOperation:
        raise forms.ValidationError("Enter a percentage such as 20 or 12.5.") from None
    bps = number * 100
    if bps != bps.to_integral_value():
        raise forms.ValidationError("Use at most two decimals (0.01% steps).")
    if not 0 <= bps <= 10000:
        raise forms.ValidationError("A percentage is between 0 and 100.")
    return int(bps)


def bps_to_percent(bps: int) -> str:
    return f"{Decimal(bps) / 100:f}".rstrip("0").rstrip(".") if bps % 100 else str(bps // 100)


def parse_amount(value, currency: str, *, field_label: str = "amount") -> int:
    try:
        amount = money.parse_major(value, currency)
    except ValueError as exc:
        raise forms.ValidationError(f"Enter the {field_label} in {currency.upper()}, e.g. 25 ({exc}).") from None
    if amount < 0:
        raise forms.ValidationError("Enter an amount of zero or more.")
    return amount


class ProgramForm(forms.Form):
    RECURRING = (
        ("months", "For a number of months"),
        ("forever", "For as long as the customer pays"),
        ("first", "First payment only"),
    )

    name = forms.CharField(max_length=200, label="Program name")
    slug = forms.RegexField(
        regex=PROGRAM_SLUG_PATTERN,
        max_length=60,
        required=False,
        label="Signup page address",
        help_text="Lower-case letters, digits and dashes: the end of the program's signup page's address.",
        error_messages={"invalid": "Use lower-case letters, digits and '-' (not at either end)."},
    )
    commission_type = forms.ChoiceField(choices=CommissionType.choices, widget=forms.RadioSelect, label="Commission")
    commission_percent = forms.CharField(
        required=False,
        label="Percentage of each payment (%)",
        help_text="Of the amount paid, excluding tax. Up to two decimals.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    commission_amount = forms.CharField(
        required=False, label="Fixed amount per payment", widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    commission_currency = forms.ChoiceField(
        choices=CURRENCIES, label="Currency of fixed amounts and the minimum payout"
    )
    recurring = forms.ChoiceField(choices=RECURRING, label="Recurring payments earn commission")
    recurring_months = forms.IntegerField(required=False, min_value=1, max_value=120, label="Months")
    cookie_days = forms.IntegerField(
        min_value=1,
        max_value=730,
        label="Cookie lifetime (days)",
        help_text="How long a visit counts after an affiliate's link is clicked.",
    )
    hold_days = forms.IntegerField(
        min_value=0,
        max_value=365,
        label="Hold period (days)",
        help_text="Commissions become payable after this, once refunds are unlikely.",
    )
    min_payout = forms.CharField(
        label="Minimum payout",
        help_text="Affiliates are paid once their approved commissions reach it.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    attribution = forms.ChoiceField(choices=Program.Attribution.choices, label="When a visitor clicks several links")
    promotion_codes_first = forms.BooleanField(
        required=False,
        label="Promotion codes win over referral links",
        help_text="When a payment's referral link and promotion code name different affiliates, the code's "
        "affiliate earns (the code is the customer's last act). Off: the link's affiliate earns.",
    )
    auto_approve = forms.BooleanField(required=False, label="Approve affiliates who sign up at once")
    signup_open = forms.BooleanField(required=False, label="Public signup page is open")
    two_tier = forms.BooleanField(
        required=False,
        label="Two-tier: affiliates earn from the affiliates they recruit",
        help_text="An affiliate who signs up through another affiliate's link is its sub-affiliate; the recruiter "
        "earns a share of every commission the sub-affiliate earns in this program (one level only).",
    )
    two_tier_percent = forms.CharField(
        required=False,
        label="Recruiter's share of each of those commissions (%)",
        help_text="10 pays the recruiter $1 of a sub-affiliate's $10 commission; refunds take back both.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    @classmethod
    def initial_for(cls, program: Program) -> dict:
        currency = program.commission_currency
        if program.recurring_months is None:
            recurring = "forever"
        elif program.recurring_months == 0:
            recurring = "first"
        else:
            recurring = "months"
        return {
            "name": program.name,
            "slug": program.slug,
            "commission_type": program.commission_type,
            "commission_percent": bps_to_percent(program.commission_bps),
            "commission_amount": money.to_major(program.commission_amount, currency),
            "commission_currency": currency,
            "recurring": recurring,
            "recurring_months": program.recurring_months or 12,
            "cookie_days": program.cookie_days,
            "hold_days": program.hold_days,
            "min_payout": money.to_major(program.min_payout_amount, currency),
            "attribution": program.attribution,
            "promotion_codes_first": program.promotion_codes_first,
            "auto_approve": program.auto_approve,
            "signup_open": program.signup_open,
            "two_tier": program.two_tier,
            "two_tier_percent": bps_to_percent(program.two_tier_bps),
        }

    def clean(self):
        data = super().clean()
        currency = data.get("commission_currency") or "usd"
        changes = {}
        if data.get("commission_type") == CommissionType.PERCENT:
            if not data.get("commission_percent"):
                self.add_error("commission_percent", "Enter the percentage.")
            else:
                try:
                    changes["commission_bps"] = percent_to_bps(data["commission_percent"])
                except forms.ValidationError as exc:
                    self.add_error("commission_percent", exc)
        elif data.get("commission_type") == CommissionType.FIXED:
            try:
                changes["commission_amount"] = parse_amount(data.get("commission_amount") or "", currency)
                if changes["commission_amount"] == 0:
                    self.add_error("commission_amount", "Enter an amount above zero.")
            except forms.ValidationError as exc:
                self.add_error("commission_amount", exc)
        if "min_payout" in data:
            try:
                changes["min_payout_amount"] = parse_amount(data["min_payout"], currency, field_label="minimum payout")
            except forms.ValidationError as exc:
                self.add_error("min_payout", exc)
        if data.get("two_tier_percent"):
            try:
                changes["two_tier_bps"] = percent_to_bps(data["two_tier_percent"])
            except forms.ValidationError as exc:
                self.add_error("two_tier_percent", exc)
        elif data.get("two_tier"):
            self.add_error("two_tier_percent", "Enter the recruiter's share.")
        recurring = data.get("recurring")
        if recurring == "months" and not data.get("recurring_months"):
            self.add_error("recurring_months", "Enter the number of months.")
        changes["recurring_months"] = {"forever": None, "first": 0}.get(recurring, data.get("recurring_months"))
        if data.get("slug"):
            changes["slug"] = data["slug"]
        for name in (
            "name",
            "commission_type",
            "commission_currency",
            "cookie_days",
            "hold_days",
            "attribution",
            "promotion_codes_first",
            "auto_approve",
            "signup_open",
            "two_tier",
        ):
            if name in data:
                changes[name] = data[name]
        data["changes"] = changes
        return data


code_field = forms.RegexField(
    regex=CODE_PATTERN,
    max_length=64,
    label="Referral code",
    error_messages={"invalid": "Use 1 to 64 letters, digits, '-' or '_'."},
)


class InviteAffiliateForm(forms.Form):
    email = forms.EmailField(label="Email")
    name = forms.CharField(max_length=200, required=False, label="Name")
    code = forms.RegexField(
        regex=CODE_PATTERN,
        max_length=64,
        required=False,
        label="Referral code",
        help_text="Optional: leave empty to derive one from the name.",
        error_messages={"invalid": "Use 1 to 64 letters, digits, '-' or '_'."},
    )


class AffiliateEditForm(forms.Form):
    OVERRIDE = (
        ("", "Use the program's rule"),
        (CommissionType.PERCENT, "Percentage"),
        (CommissionType.FIXED, "Fixed amount"),
    )

    name = forms.CharField(max_length=200, required=False, label="Name")
    code = forms.RegexField(
        regex=CODE_PATTERN,
        max_length=64,
        label="Referral code",
        help_text="Links with the old code stop working when you change it.",
        error_messages={"invalid": "Use 1 to 64 letters, digits, '-' or '_'."},
    )
    commission_type_override = forms.ChoiceField(
        choices=OVERRIDE, required=False, label="Commission for this affiliate"
    )
    override_percent = forms.CharField(required=False, label="Percentage (%)")
    override_amount = forms.CharField(required=False, label="Fixed amount")

    def __init__(self, *args, currency: str = "usd", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["override_amount"].label = f"Fixed amount ({currency.upper()})"

    @classmethod
    def initial_for(cls, affiliate: Affiliate) -> dict:
        currency = affiliate.program.commission_currency
        return {
            "name": affiliate.name,
            "code": affiliate.code,
            "commission_type_override": affiliate.commission_type_override,
            "override_percent": bps_to_percent(affiliate.commission_bps_override)
            if affiliate.commission_bps_override is not None
            else "",
            "override_amount": money.to_major(affiliate.commission_amount_override, currency)
            if affiliate.commission_amount_override is not None
            else "",
        }

    def clean(self):
        data = super().clean()
        kind = data.get("commission_type_override", "")
        data["commission_bps_override"] = None
        data["commission_amount_override"] = None
        if kind == CommissionType.PERCENT:
            try:
                data["commission_bps_override"] = percent_to_bps(data.get("override_percent") or "")
            except forms.ValidationError as exc:
                self.add_error("override_percent", exc)
        elif kind == CommissionType.FIXED:
            try:
                data["commission_amount_override"] = parse_amount(data.get("override_amount") or "", self.currency)
            except forms.ValidationError as exc:
                self.add_error("override_amount", exc)
        return data


class AffiliateStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Affiliate.Status.choices)


class VoidCommissionForm(forms.Form):
    reason = forms.CharField(max_length=255, label="Reason", help_text="Shown to the affiliate.")


class MarkPaidForm(forms.Form):
    reference = forms.CharField(
        max_length=255,
        required=False,
        label="Reference",
        help_text="The transfer's id, e.g. the PayPal transaction or batch id.",
    )


class ImportAffiliatesForm(forms.Form):
    platform = forms.ChoiceField(
        choices=ImportPlatform.choices, widget=forms.RadioSelect, label="The platform you are coming from"
    )
    file = forms.FileField(
        label="Its CSV export",
        help_text="Affiliates, and where the file has them, referred customers and unpaid commissions.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB: split it.")
        return upload


class MoveAffiliateForm(forms.Form):
    """The program an affiliate is in (the merchant's active programs)."""

    program = forms.ModelChoiceField(
        queryset=Program.objects.none(), to_field_name="public_id", label="Program", empty_label=None
    )

    def __init__(self, *args, merchant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = (
            Program.objects.for_merchant(merchant)
            .filter(status=Program.Status.ACTIVE)
            .order_by("-is_default", "name", "pk")
        )


class AffiliateParentForm(forms.Form):
    """The affiliate an affiliate joined through (two-tier programs), by its code or email; empty for none."""

    parent = forms.CharField(
        required=False,
        max_length=254,
        label="Referred by",
        help_text="The code or email of the affiliate it joined through; empty for none.",
        widget=forms.TextInput(attrs={"placeholder": "code or email"}),
    )

    def __init__(self, *args, merchant, **kwargs):
        super().__init__(*args, **kwargs)
        self.merchant = merchant

    def clean_parent(self) -> Affiliate | None:
        """The merchant's affiliate with that code or email (None for an empty field)."""
        text = self.cleaned_data["parent"].strip()
        if not text:
            return None
        found = Affiliate.objects.for_merchant(self.merchant).filter(Q(code__iexact=text) | Q(email__iexact=text))
        parent = found.first()
        if parent is None:
            raise forms.ValidationError(f"No affiliate has the code or email “{text}”.")
        return parent


class ProgramStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Program.Status.choices)
