"""Forms of the affiliate portal. Nothing here writes: views pass `cleaned_data` to services."""

from django import forms
from django.contrib.auth import password_validation

from affiliates.models import Affiliate
from affiliates.services import FORMULA_PREFIXES


class PortalSignupForm(forms.Form):
    name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField(label="Email")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Password",
        help_text="At least 8 characters. Already have an Afficone account? Use its password.",
    )

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


class PayoutSettingsForm(forms.Form):
    payout_method = forms.ChoiceField(
        choices=Affiliate.PayoutMethod.choices, widget=forms.RadioSelect, label="Pay me by"
    )
    paypal_email = forms.EmailField(required=False, label="PayPal email")
    bank_details = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Bank details",
        help_text="Account holder, IBAN or account number, BIC/SWIFT or routing number, bank name and country.",
    )
    notify_on_commission = forms.BooleanField(required=False, label="Email me when I earn a commission")

    def clean_paypal_email(self):
        email = self.cleaned_data["paypal_email"]
        if email[:1] in FORMULA_PREFIXES:
            raise forms.ValidationError("A PayPal email address cannot start with = + - or @.")
        return email

    def clean(self):
        data = super().clean()
        method = data.get("payout_method")
        if method == Affiliate.PayoutMethod.PAYPAL and not data.get("paypal_email"):
            self.add_error("paypal_email", "Enter the PayPal email address to pay.")
        if method == Affiliate.PayoutMethod.BANK and not (data.get("bank_details") or "").strip():
            self.add_error("bank_details", "Enter your bank details.")
        return data


class SetPasswordForInviteForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), label="Choose a password"
    )

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password
