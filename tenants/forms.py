import re

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.urls import reverse
from django.utils.html import format_html

from .lockout import LOCKED_MESSAGE, count_login_attempt, lift_lockout
from .models import Membership, Merchant, User
from .users import normalize_email, user_with_email

# Logos are shown on the affiliate portal; raster formats only (an SVG can carry scripts).
LOGO_MAX_BYTES = 512 * 1024
LOGO_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}


def email_taken_message():
    return format_html(
        'An account with this email already exists. <a href="{}">Log in</a> instead, '
        "or reset your password if you have forgotten it.",
        reverse("tenants:login"),
    )


class SignupForm(forms.Form):
    company = forms.CharField(
        label="Company name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "organization"})
    )
    email = forms.EmailField(label="Work email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not a common password and not only digits.",
    )

    def clean_company(self):
        company = self.cleaned_data["company"].strip()
        if not company:
            raise forms.ValidationError("Enter your company's name.")
        return company

    def clean_email(self):
        email = normalize_email(self.cleaned_data["email"])
        if user_with_email(email) is not None:
            raise forms.ValidationError(email_taken_message())
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            probe = User(email=cleaned.get("email", ""), name=cleaned.get("company", ""))
            try:
                password_validation.validate_password(password, probe)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class LockoutMixin:
    """For a Django login form: each attempt counts against the account's lockout before the password is checked
    (tenants/lockout.py), and a successful login lifts it."""

    def clean(self):
        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email is not None and password and not count_login_attempt(email):
            raise forms.ValidationError(LOCKED_MESSAGE, code="throttled")
        cleaned = super().clean()
        if self.user_cache is not None:
            lift_lockout(email)
        return cleaned


class LoginForm(LockoutMixin, AuthenticationForm):
    """Django's login form, by email, with the per-account lockout."""

    error_messages = {
        "invalid_login": "That email and password do not match an account. Check them, or reset your password.",
        "inactive": "This account is disabled.",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget = forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})

    def clean_username(self):
        return normalize_email(self.cleaned_data["username"])


class AdminLoginForm(LockoutMixin, AdminAuthenticationForm):
    """The admin site's login, with the same per-account lockout as the dashboard's."""


class ResetPasswordForm(SetPasswordForm):
    """The form behind a password-reset link (dashboard and portal): setting the new password also lifts the
    account's login lockout, and that account's only."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        lift_lockout(user.email)
        return user


class CreateMerchantForm(forms.Form):
    company = forms.CharField(label="Company name", max_length=200)

    def clean_company(self):
        company = self.cleaned_data["company"].strip()
        if not company:
            raise forms.ValidationError("Enter your company's name.")
        return company


class SwitchForm(forms.Form):
    merchant = forms.UUIDField()


class ProviderForm(forms.Form):
    provider = forms.ChoiceField(
        label="Payment provider",
        choices=Merchant.Provider.choices,
        widget=forms.RadioSelect,
        help_text="Where your customers pay. Afficone reads payments from it to credit your affiliates.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def __init__(self, *args, can_invite_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_invite_owner:
            self.fields["role"].choices = [c for c in Membership.Role.choices if c[0] != Membership.Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


class AcceptSignupForm(forms.Form):
    """A new person joins from an invitation: the email is the invited one."""

    name = forms.CharField(label="Your name", max_length=200, required=False)
    password = forms.CharField(
        label="Choose a password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password, User(email=self.email))
        return password


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="Where the key is used, e.g. “Production backend”. Only you see it."
    )


HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


class BrandingForm(forms.Form):
    name = forms.CharField(label="Name shown to affiliates", max_length=200)
    brand_color = forms.CharField(
        label="Brand colour",
        max_length=7,
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text="Buttons and links on your affiliate portal use it.",
    )
    logo = forms.FileField(
        label="Logo",
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/gif"}),
        help_text="PNG, JPEG or GIF, up to 512 KB. Shown at the top of your affiliate portal.",
    )
    clear_logo = forms.BooleanField(label="Remove the current logo", required=False)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter the name your affiliates know you by.")
        return name

    def clean_brand_color(self):
        color = self.cleaned_data["brand_color"].strip()
        if not HEX_COLOR.match(color):
            raise forms.ValidationError("Enter a colour as #rrggbb, for example #4f46e5.")
        return color.lower()

    def clean_logo(self):
        logo = self.cleaned_data.get("logo")
        if not logo:
            return None
        if logo.size > LOGO_MAX_BYTES:
            raise forms.ValidationError(f"The logo is {logo.size // 1024} KB; the limit is 512 KB.")
        # The file's own bytes decide its type, not its name or the browser's claim.
        head = logo.read(16)
        logo.seek(0)
        extension = next((ext for signature, ext in LOGO_SIGNATURES.items() if head.startswith(signature)), None)
        if extension is None:
            raise forms.ValidationError("Upload a PNG, JPEG or GIF image.")
        logo.name = f"logo.{extension}"  # the stored name never comes from the uploader
        return logo
