from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache


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
    path("", include("dashboard.urls")),
]

if settings.DEBUG:
    # Uploaded logos in development; in production the proxy serves MEDIA_ROOT.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
