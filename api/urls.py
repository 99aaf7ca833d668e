"""/api/v1/: the merchant REST API, its OpenAPI schema and its interactive documentation."""

from django.urls import path, re_path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from webhooks.api import WebhookEndpointViewSet

from . import leads, programs, referrals, views
from .base import UnknownEndpoint

app_name = "api"

router = SimpleRouter(trailing_slash=False)
router.register("affiliates", views.AffiliateViewSet, basename="affiliate")
router.register("referrals", referrals.ReferralViewSet, basename="referral")
router.register("leads", leads.LeadViewSet, basename="lead")
router.register("commissions", views.CommissionViewSet, basename="commission")
router.register("payouts", views.PayoutViewSet, basename="payout")
router.register("programs", programs.ProgramViewSet, basename="program")
router.register("conversions", views.ConversionViewSet, basename="conversion")
router.register("webhook_endpoints", WebhookEndpointViewSet, basename="webhook_endpoint")

_public = {"authentication_classes": [], "permission_classes": [], "throttle_classes": []}
# JSON by default (application/vnd.oai.openapi+json) and for `Accept: application/json`; YAML for
# `Accept: application/vnd.oai.openapi` or `application/yaml`.
SCHEMA_RENDERERS = [OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer, OpenApiYamlRenderer2]

urlpatterns = [
    *router.urls,
    path(
        "schema/",
        SpectacularAPIView.as_view(renderer_classes=SCHEMA_RENDERERS, **_public),
        name="schema",
    ),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **_public), name="docs"),
    # Anything else under /api/v1/ answers 404 in the API's error shape, not an HTML page.
    re_path(r"^.*$", UnknownEndpoint.as_view(), name="unknown"),
]
