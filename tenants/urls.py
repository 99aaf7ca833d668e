from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import forms, views

app_name = "tenants"

# These pages use the public layout even for a logged-in team member.
PUBLIC = {"current_merchant": None}

urlpatterns = [
    path("", views.landing, name="landing"),
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="tenants/login.html", form_class=forms.LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="tenants/password_reset.html",
            extra_context=PUBLIC,
            email_template_name="emails/password_reset.txt",
            subject_template_name="emails/password_reset_subject.txt",
            success_url=reverse_lazy("tenants:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="tenants/password_reset_done.html", extra_context=PUBLIC
        ),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="tenants/password_reset_confirm.html",
            form_class=forms.ResetPasswordForm,
            extra_context=PUBLIC,
            success_url=reverse_lazy("tenants:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="tenants/password_reset_complete.html", extra_context=PUBLIC
        ),
        name="password_reset_complete",
    ),
    path("switch/", views.switch, name="switch"),
    path("no-merchant/", views.no_merchant, name="no_merchant"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("settings/provider/", views.provider, name="provider"),
    path("settings/team/", views.team, name="team"),
    path("settings/team/invitations/<uuid:code>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("settings/team/members/<uuid:code>/role/", views.change_role, name="change_role"),
    path("settings/team/members/<uuid:code>/remove/", views.remove_member, name="remove_member"),
    path("settings/api-keys/", views.api_keys, name="api_keys"),
    path("settings/api-keys/<uuid:code>/", views.api_key_created, name="api_key_created"),
    path("settings/api-keys/<uuid:code>/revoke/", views.revoke_api_key, name="revoke_api_key"),
    path("settings/branding/", views.branding, name="branding"),
    path("settings/proxy-secret/rotate/", views.rotate_proxy_secret, name="rotate_proxy_secret"),
]
