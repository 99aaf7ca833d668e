from . import views

# The tracker's endpoints, by path: answered before the rest of the middleware runs.
ENDPOINTS = {"/api/track/click": views.track_click, "/api/track/seen": views.track_seen}


class TrackerEndpointsMiddleware:
    """Answers /api/track/* ahead of the other middleware, which these endpoints have no use for.

    They are cross-site by design (no CSRF), read no session, user or tenant,
    show no messages, and must not be redirected (a redirected beacon is
    lost). Every visit through an affiliate link costs one of these requests,
    and the middleware stack is most of what a Django request costs
    (bench/tracking_click.py measures both), so they skip it. First in
    MIDDLEWARE.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = ENDPOINTS.get(request.path_info)
        if view is not None:
            request.get_host()  # still only for ALLOWED_HOSTS (DisallowedHost answers 400)
            return view(request)
        return self.get_response(request)
