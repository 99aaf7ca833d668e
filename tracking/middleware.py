from . import views

# The tracker's endpoints, by path: answered before the rest of the middleware runs.
ENDPOINTS = {"/api/track/click": views.track_click, "/api/track/seen": views.track_seen, "/t.js": views.tracker_script}


class TrackerEndpointsMiddleware:
    """Answers /api/track/* (and /t.js where no proxy serves it) ahead of the other middleware.

    These endpoints are cross-site by design (no CSRF), read no session, user
    or tenant, show no messages, and must not be redirected (a redirected
    beacon is lost). Every visit through an affiliate link costs one of these
    requests, and the middleware stack is most of what a Django request costs
    (bench/tracking_click.py measures both), so they skip it; the script also
    stays free of `Vary: Cookie`, which would keep a CDN from caching it.
    First in MIDDLEWARE.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = ENDPOINTS.get(request.path_info)
        if view is not None:
            request.get_host()  # still only for ALLOWED_HOSTS (DisallowedHost answers 400)
            return view(request)
        return self.get_response(request)
