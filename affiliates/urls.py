# Work in progress: the dashboard and portal helper replaces these with the real views.
from django.http import HttpResponse
from django.urls import path

app_name = "affiliates"


def _not_built(request, **kwargs):
    return HttpResponse("Not built yet", status=501)


urlpatterns = [
    path("dashboard/", _not_built, name="overview"),
    path("onboarding/", _not_built, name="onboarding"),
    path("affiliates/", _not_built, name="affiliate_list"),
    path("affiliates/<uuid:uid>/", _not_built, name="affiliate_detail"),
    path("commissions/", _not_built, name="commission_list"),
    path("payouts/", _not_built, name="payout_list"),
    path("program/", _not_built, name="programs"),
    path("settings/", _not_built, name="settings"),
    path("p/<slug:slug>/", _not_built, name="portal_dashboard"),
]
