from django.urls import path

from . import views

# No app_name: afficone/urls.py includes these with the dashboard's under the namespace "affiliates", whose URL
# names predate the split into dashboard/ and portal/.
urlpatterns = [
    path("p/<slug:slug>/", views.portal_dashboard, name="portal_dashboard"),
    path("p/<slug:slug>/join/", views.portal_signup, name="portal_signup"),
    path("p/<slug:slug>/join/<slug:program>/", views.portal_signup, name="portal_program_signup"),
    path("p/<slug:slug>/login/", views.portal_login, name="portal_login"),
    path("p/<slug:slug>/logout/", views.portal_logout, name="portal_logout"),
    path("p/<slug:slug>/commissions/", views.portal_commissions, name="portal_commissions"),
    path("p/<slug:slug>/payouts/", views.portal_payouts, name="portal_payouts"),
    path("p/<slug:slug>/settings/", views.portal_settings, name="portal_settings"),
    path("p/<slug:slug>/invite/<str:token>/", views.portal_accept_invite, name="portal_accept_invite"),
    path("p/<slug:slug>/password-reset/", views.portal_password_reset, name="portal_password_reset"),
    path("p/<slug:slug>/password-reset/sent/", views.portal_password_reset_done, name="portal_password_reset_done"),
    path(
        "p/<slug:slug>/reset/<uidb64>/<token>/",
        views.portal_password_reset_confirm,
        name="portal_password_reset_confirm",
    ),
]
