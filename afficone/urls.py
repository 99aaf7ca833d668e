from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache

from dashboard import urls as dashboard_urls
from portal import urls as portal_urls


@never_cache
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("tracking.urls")),
    path("stripe/", include("stripe_integration.urls")),
    path("api/v1/", include("api.urls")),
    path("", include("tenants.urls")),
    path("", include("webhooks.urls")),
    # The merchant dashboard and the affiliate portal share the namespace "affiliates": their URL names predate the
    # split of their views into dashboard/ and portal/.
    path("", include((dashboard_urls.urlpatterns + portal_urls.urlpatterns, "affiliates"))),
]

if settings.DEBUG:
    # Uploaded logos in development; in production the proxy serves MEDIA_ROOT.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
