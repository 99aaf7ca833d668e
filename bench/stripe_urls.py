"""The app's URLs plus the baseline: a bare Django view behind the same middleware, taking the same POST."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from afficone.urls import urlpatterns as app_urlpatterns


@csrf_exempt
@require_POST
def bare(request):
    _ = request.body  # read the body, as the webhook does
    return HttpResponse(status=200)


urlpatterns = [path("bench/bare/", bare), *app_urlpatterns]
