"""The app's URLs plus the baselines: a bare Django view behind the full middleware stack, and the same view
dispatched the way the tracker's endpoints are (ahead of the middleware, afficone/middleware.py; see
bench/tracking_settings.py)."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from afficone.urls import urlpatterns as app_urlpatterns


@csrf_exempt
@never_cache
def bare(request):
    return HttpResponse(b'{"ok":true}', content_type="application/json")


urlpatterns = [path("bench/bare", bare), *app_urlpatterns]
