from django.urls import path

from portal import views as portal_views

from . import views

app_name = "affiliates"

urlpatterns = [
    # Merchant dashboard
    path("dashboard/", views.overview, name="overview"),
    path("onboarding/", views.onboarding, name="onboarding"),
    path("affiliates/", views.affiliate_list, name="affiliate_list"),
    path("affiliates/invite/", views.affiliate_invite, name="affiliate_invite"),
    path("affiliates/status/", views.affiliate_bulk_status, name="affiliate_bulk_status"),
    path("affiliates/<uuid:uid>/", views.affiliate_detail, name="affiliate_detail"),
    path("affiliates/<uuid:uid>/status/", views.affiliate_status, name="affiliate_status"),
    path("commissions/", views.commission_list, name="commission_list"),
    path("commissions/<uuid:code>/approve/", views.commission_approve, name="commission_approve"),
    path("commissions/<uuid:code>/void/", views.commission_void, name="commission_void"),
    path("payouts/", views.payout_list, name="payout_list"),
    path("payouts/batches/", views.payout_batch_create, name="payout_batch_create"),
    path("payouts/batches/<uuid:code>/paid/", views.payout_batch_mark_paid, name="payout_batch_mark_paid"),
    path("payouts/batches/<uuid:code>/<str:kind>.csv", views.payout_batch_export, name="payout_batch_export"),
    path("payouts/<uuid:code>/paid/", views.payout_mark_paid, name="payout_mark_paid"),
    path("program/", views.programs, name="programs"),
    path("program/confirm/", views.program_confirm, name="program_confirm"),
    path("settings/", views.settings, name="settings"),
    # Affiliate portal
    path("p/<slug:slug>/", portal_views.portal_dashboard, name="portal_dashboard"),
    path("p/<slug:slug>/join/", portal_views.portal_signup, name="portal_signup"),
    path("p/<slug:slug>/login/", portal_views.portal_login, name="portal_login"),
    path("p/<slug:slug>/logout/", portal_views.portal_logout, name="portal_logout"),
    path("p/<slug:slug>/commissions/", portal_views.portal_commissions, name="portal_commissions"),
    path("p/<slug:slug>/payouts/", portal_views.portal_payouts, name="portal_payouts"),
    path("p/<slug:slug>/settings/", portal_views.portal_settings, name="portal_settings"),
    path("p/<slug:slug>/invite/<str:token>/", portal_views.portal_accept_invite, name="portal_accept_invite"),
    path("p/<slug:slug>/password-reset/", portal_views.portal_password_reset, name="portal_password_reset"),
    path(
        "p/<slug:slug>/password-reset/sent/", portal_views.portal_password_reset_done, name="portal_password_reset_done"
    ),
    path(
        "p/<slug:slug>/reset/<uidb64>/<token>/",
        portal_views.portal_password_reset_confirm,
        name="portal_password_reset_confirm",
    ),
]
