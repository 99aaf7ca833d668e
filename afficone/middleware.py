"""Machine-to-machine endpoints answered ahead of the middleware stack (settings.FAST_ENDPOINTS).

The tracker's click and beacon endpoints (and /t.js where no proxy serves it) and Stripe's webhook are called by
browsers on other sites and by Stripe, never by a signed-in user: they read no session, user or tenant, show no
messages, take no CSRF token (they authenticate themselves: a public key, Stripe's signature) and must not be
redirected (a redirected beacon or webhook is lost). Every visit through an affiliate link and every Stripe event costs
one of these requests, and the middleware stack is most of what a small Django request costs (bench/tracking_click.py
and bench/stripe_webhook.py measure both), so they skip it; /t.js also stays free of `Vary: Cookie`, which would keep
a CDN from caching it. First in MIDDLEWARE.
"""

from django.conf import settings
from django.utils.module_loading import import_string


class FastEndpointsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.endpoints = {path: import_string(view) for path, view in settings.FAST_ENDPOINTS.items()}

    def __call__(self, request):
        view = self.endpoints.get(request.path_info)
        if view is not None:
            request.get_host()  # still only for ALLOWED_HOSTS (DisallowedHost answers 400)
            return view(request)
        return self.get_response(request)
