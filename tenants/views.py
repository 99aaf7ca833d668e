"""Merchant accounts: landing, signup, login, team, API keys, provider and branding.

Every tenant-owned row is fetched through `Model.objects.for_merchant(request.merchant)`
behind `merchant_required`; another merchant's id answers 404.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from affiliates.onboarding import create_merchant

from . import forms, services
from .access import merchant_required, switch_merchant
from .models import ApiKey, Invitation, Membership
from .users import user_with_email

NEW_API_KEY_SESSION_KEY = "new_api_key"
AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"


def landing(request):
    if request.user.is_authenticated and request.membership is not None:
        return redirect("affiliates:overview")
    return render(request, "tenants/landing.html")


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated and request.membership is not None:
        return redirect("affiliates:overview")
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            merchant, user = create_merchant(
                name=form.cleaned_data["company"],
                owner_email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except IntegrityError:  # the same email signed up a moment ago
            form.add_error("email", forms.email_taken_message())
        else:
            login(request, user, backend=AUTH_BACKEND)
            switch_merchant(request, merchant.pk)
            messages.success(request, f"Welcome to Afficone! {merchant.name} is ready; here is how to set it up.")
            return redirect("affiliates:onboarding")
    return render(request, "tenants/signup.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def no_merchant(request):
    """For a user who belongs to no merchant (say, an affiliate only): create one, or go to a portal."""
    if request.membership is not None:
        return redirect("affiliates:overview")
    form = forms.CreateMerchantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        merchant, _ = create_merchant(name=form.cleaned_data["company"], owner_email=request.user.email)
        switch_merchant(request, merchant.pk)
        messages.success(request, f"{merchant.name} is ready; here is how to set it up.")
        return redirect("affiliates:onboarding")
    portals = request.user.affiliates.select_related("merchant").order_by("merchant__name")
    return render(
        request, "tenants/no_merchant.html", {"form": form, "portals": portals}, status=400 if form.errors else 200
    )


@login_required
@require_POST
def switch(request):
    form = forms.SwitchForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose a merchant to switch to.")
    membership = get_object_or_404(
        request.user.memberships.select_related("merchant"), merchant__public_id=form.cleaned_data["merchant"]
    )
    switch_merchant(request, membership.merchant_id)
    messages.success(request, f"Switched to {membership.merchant.name}.")
    return redirect("affiliates:overview")


# --- settings: payment provider -----------------------------------------------------------------------------------


@merchant_required(manage=True)
@require_http_methods(["GET", "POST"])
def provider(request):
    form = forms.ProviderForm(request.POST or None, initial={"provider": request.merchant.payment_provider})
    if request.method == "POST" and form.is_valid():
        merchant = services.set_payment_provider(request.merchant, provider=form.cleaned_data["provider"])
        messages.success(request, f"Payment provider saved: {merchant.get_payment_provider_display()}.")
        return redirect("tenants:provider")
    return render(request, "tenants/provider.html", {"form": form}, status=400 if form.errors else 200)


# --- settings: team -----------------------------------------------------------------------------------------------


def _is_owner(request) -> bool:
    return request.membership.role == Membership.Role.OWNER


def _render_team(request, invite_form=None, status=200):
    cutoff = timezone.now() - services.INVITATION_TTL
    invitations = list(
        Invitation.objects.for_merchant(request.merchant)
        .filter(accepted_at=None, revoked_at=None)
        .select_related("invited_by")
        .order_by("-created_at")
    )
    for invitation in invitations:
        invitation.is_expired = invitation.created_at < cutoff
    context = {
        "members": Membership.objects.for_merchant(request.merchant)
        .select_related("user")
        .order_by("created_at", "pk"),
        "invitations": invitations,
        "invite_form": invite_form or forms.InviteForm(can_invite_owner=_is_owner(request)),
        "is_owner": _is_owner(request),
        "roles": Membership.Role.choices,
    }
    return render(request, "tenants/team.html", context, status=status)


@merchant_required(manage=True)
@require_http_methods(["GET", "POST"])
def team(request):
    form = forms.InviteForm(request.POST or None, can_invite_owner=_is_owner(request))
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invite_member(
                request.merchant,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except services.MerchantError as error:
            form.add_error("email", str(error))
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("tenants:team")
    return _render_team(request, form, status=400 if form.errors else 200)


@merchant_required(manage=True)
@require_POST
def revoke_invitation(request, code):
    invitation = get_object_or_404(Invitation.objects.for_merchant(request.merchant), public_id=code, accepted_at=None)
    services.revoke_invitation(invitation)
    messages.success(request, f"The invitation to {invitation.email} was withdrawn; its link no longer works.")
    return redirect("tenants:team")


@merchant_required(manage=True)
@require_POST
def change_role(request, code):
    membership = get_object_or_404(
        Membership.objects.for_merchant(request.merchant).select_related("user"), public_id=code
    )
    if not _is_owner(request):
        raise PermissionDenied("Only owners can change roles.")
    form = forms.RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles: owner, admin or member.")
        return _render_team(request, status=400)
    try:
        membership = services.change_member_role(membership, role=form.cleaned_data["role"], changed_by=request.user)
    except services.MerchantError as error:
        messages.error(request, str(error))
        return _render_team(request, status=400)
    messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
    return redirect("tenants:team")


@merchant_required(manage=True)
@require_POST
def remove_member(request, code):
    membership = get_object_or_404(
        Membership.objects.for_merchant(request.merchant).select_related("user"), public_id=code
    )
    if not _is_owner(request):
        raise PermissionDenied("Only owners can remove members.")
    try:
        services.remove_member(membership, removed_by=request.user)
    except services.MerchantError as error:
        messages.error(request, str(error))
        return _render_team(request, status=400)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left {request.merchant.name}.")
        return redirect("tenants:landing")
    messages.success(request, f"{membership.user.email} no longer has access to {request.merchant.name}.")
    return redirect("tenants:team")


@require_http_methods(["GET", "POST"])
def accept_invitation(request, token):
    """The link in the invitation email: a logged-in user joins; a new person creates an account and joins."""
    invitation = services.open_invitation(token)
    if invitation is None:
        return render(request, "tenants/invitation_invalid.html", {"current_merchant": None}, status=404)
    context = {
        "invitation": invitation,
        "has_account": user_with_email(invitation.email) is not None,
        "current_merchant": None,  # the public layout, whoever is logged in
    }
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                services.accept_invitation(invitation, user=request.user)
            except services.MerchantError as error:
                messages.error(request, str(error))
                return render(request, "tenants/accept_invitation.html", context, status=400)
            return _joined(request, invitation)
        return render(request, "tenants/accept_invitation.html", context)
    form = forms.AcceptSignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and not context["has_account"] and form.is_valid():
        try:
            membership = services.sign_up_by_invitation(
                invitation, password=form.cleaned_data["password"], name=form.cleaned_data["name"]
            )
        except services.MerchantError as error:
            messages.error(request, str(error))
            return render(request, "tenants/accept_invitation.html", context | {"form": form}, status=400)
        login(request, membership.user, backend=AUTH_BACKEND)
        return _joined(request, invitation)
    status = 400 if request.method == "POST" else 200
    return render(request, "tenants/accept_invitation.html", context | {"form": form}, status=status)


def _joined(request, invitation):
    switch_merchant(request, invitation.merchant_id)
    messages.success(request, f"You joined {invitation.merchant.name} as {invitation.get_role_display().lower()}.")
    return redirect("affiliates:overview")


# --- settings: API keys -------------------------------------------------------------------------------------------


@merchant_required(manage=True)
@require_http_methods(["GET", "POST"])
def api_keys(request):
    form = forms.ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, secret = services.create_api_key(request.merchant, name=form.cleaned_data["name"], created_by=request.user)
        # Kept only until the next page shows it; only the hash is stored for good.
        request.session[NEW_API_KEY_SESSION_KEY] = {"code": str(key.public_id), "secret": secret}
        return redirect("tenants:api_key_created", code=key.public_id)
    keys = (
        ApiKey.objects.for_merchant(request.merchant).select_related("created_by").order_by("revoked_at", "-created_at")
    )
    return render(request, "tenants/api_keys.html", {"form": form, "keys": keys}, status=400 if form.errors else 200)


@never_cache
@merchant_required(manage=True)
def api_key_created(request, code):
    key = get_object_or_404(ApiKey.objects.for_merchant(request.merchant), public_id=code)
    new_key = request.session.pop(NEW_API_KEY_SESSION_KEY, None)
    if not new_key or new_key.get("code") != str(key.public_id):
        messages.info(
            request,
            f"The secret of “{key.name}” was shown once, when it was created. "
            "If it is lost, create a new key and revoke this one.",
        )
        return redirect("tenants:api_keys")
    return render(request, "tenants/api_key_created.html", {"key": key, "secret": new_key["secret"]})


@merchant_required(manage=True)
@require_POST
def revoke_api_key(request, code):
    key = get_object_or_404(ApiKey.objects.for_merchant(request.merchant), public_id=code)
    if not key.is_active:
        messages.info(request, f"“{key.name}” was already revoked.")
        return redirect("tenants:api_keys")
    services.revoke_api_key(key)
    messages.success(request, f"“{key.name}” is revoked: requests with it are refused from now on.")
    return redirect("tenants:api_keys")


# --- settings: branding -------------------------------------------------------------------------------------------


@merchant_required(manage=True)
@require_http_methods(["GET", "POST"])
def branding(request):
    merchant = request.merchant
    form = forms.BrandingForm(
        request.POST or None,
        request.FILES or None,
        initial={"name": merchant.name, "brand_color": merchant.brand_color},
    )
    if request.method == "POST" and form.is_valid():
        services.update_branding(
            merchant,
            name=form.cleaned_data["name"],
            brand_color=form.cleaned_data["brand_color"],
            logo=form.cleaned_data["logo"],
            clear_logo=form.cleaned_data["clear_logo"],
        )
        messages.success(request, "Branding saved. Your affiliate portal shows it now.")
        return redirect("tenants:branding")
    return render(request, "tenants/branding.html", {"form": form}, status=400 if form.errors else 200)


# --- settings: the first-party proxy's secret ---------------------------------------------------------------------


@merchant_required(manage=True)
@require_POST
def rotate_proxy_secret(request):
    services.rotate_proxy_secret(request.merchant)
    messages.success(
        request, "A new proxy secret is ready and the old one no longer works: put the new one in your proxy's config."
    )
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(reverse("affiliates:settings") + "#first-party")
