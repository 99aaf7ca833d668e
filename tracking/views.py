"""The tracker's endpoints, and the demo shop.

Wire format (static/tracking/t.js is the only client; bodies are JSON sent as
text/plain, so browsers send no CORS preflight):

  POST /api/track/click  {"k": public key, "c": affiliate code, "u": landing URL, "r": referrer,
                          "p": the visitor's current referral id or null}
     200 {"referral": id, "days": cookie lifetime, "attribution": "last_click" | "first_click"}
     200 {"referral": null, ...} for bots (nothing stored)
     4xx {"error": {"code", "message", "field"}}: nothing stored
  POST /api/track/adopt  {"k": public key, "c": a referral id from another of the merchant's sites (data-domains),
                          "u", "r", "p" as for click}
     200 {"referral": id, "days": what is left of its cookie, a fraction} or {"referral": null, "days": null}
  POST /api/track/seen   {"k": public key, "u": page URL}, sent at most once a day per browser and site:
                          the installation check. 204.
  POST /api/track/lead   {"k", "u", "r": referral id, "e": email, "c": customer id?, "x": own user id?} from
                          Afficone.signup (tracking/leads.py). 200 {"lead": id}.

Through the merchant's own proxy (tracking/proxy.py) with the right Afficone-Proxy-Secret, the visitor's
forwarded address counts for rate limits and the visitor hash, and a click's answer also sets `afficone_ref`
as an HTTP cookie on the site's registrable domain.

Browser storage: the cookie `afficone_ref` (the referral id, on the registrable
domain); sessionStorage `afficone_c` (the landing page already reported, so a
reload does not count twice); localStorage `afficone_seen` (the day of the
last installation check).
"""

import gzip
import hashlib
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from affiliates.models import Affiliate
from tenants.models import Merchant

from . import leads, proxy, services
from .bots import is_bot
from .services import TrackingError

DEMO_MERCHANT_SLUG = "demo-coffee-co"


def _cors(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _error(exc: TrackingError) -> HttpResponse:
    body = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
    response = _cors(JsonResponse(body, status=exc.status))
    if exc.status == 429:
        response["Retry-After"] = "60"
    return response


def _preflight() -> HttpResponse:
    # t.js never needs one; answered for clients that send JSON with its own content type.
    response = _cors(HttpResponse(status=204))
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "86400"
    return response


def _read_body(request) -> bytes:
    if request.method != "POST":
        raise TrackingError(405, "method_not_allowed", "Use POST.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > services.MAX_BODY_BYTES:
        raise TrackingError(413, "too_large", f"The body is larger than {services.MAX_BODY_BYTES} bytes.")
    return request.read(services.MAX_BODY_BYTES + 1)


@csrf_exempt
@never_cache
def track_click(request):
    if request.method == "OPTIONS":
        return _preflight()
    now = timezone.now()
    try:
        body = _read_body(request)
        user_agent = request.META.get("HTTP_USER_AGENT", "")
        if is_bot(user_agent):
            return _cors(JsonResponse({"referral": None, "days": None, "attribution": None, "ignored": "bot"}))
        click = services.parse_click(body)
        visitor = proxy.visitor(request, click.public_key)
        ip_hash = services.hash_ip(visitor.ip, now=now)
        result = services.accept_click(click, user_agent=user_agent, ip_hash=ip_hash, now=now)
    except TrackingError as exc:
        return _error(exc)
    response = JsonResponse({"referral": result.referral, "days": result.days, "attribution": result.attribution})
    proxy.set_referral_cookie(response, visitor, referral=result.referral, days=result.days)
    return _cors(response)


@csrf_exempt
@never_cache
def track_adopt(request):
    if request.method == "OPTIONS":
        return _preflight()
    now = timezone.now()
    try:
        body = _read_body(request)
        if is_bot(request.META.get("HTTP_USER_AGENT", "")):
            return _cors(JsonResponse({"referral": None, "days": None, "ignored": "bot"}))
        adopt = services.parse_adopt(body)
        visitor = proxy.visitor(request, adopt.public_key)
        result = services.adopt_referral(adopt, ip_hash=services.hash_ip(visitor.ip, now=now), now=now)
    except TrackingError as exc:
        return _error(exc)
    response = JsonResponse({"referral": result.referral, "days": result.days})
    if result.referral and result.days:
        proxy.set_referral_cookie(response, visitor, referral=result.referral, days=result.days)
    return _cors(response)


@csrf_exempt
@never_cache
def track_seen(request):
    if request.method == "OPTIONS":
        return _preflight()
    now = timezone.now()
    try:
        body = _read_body(request)
        if is_bot(request.META.get("HTTP_USER_AGENT", "")):
            return _cors(HttpResponse(status=204))
        public_key, host = services.parse_seen(body)
        visitor = proxy.visitor(request, public_key)
        services.check_seen_rate(public_key, ip_hash=services.hash_ip(visitor.ip, now=now))
        services.record_seen_domain(public_key, host, now=now)
    except TrackingError as exc:
        return _error(exc)
    return _cors(HttpResponse(status=204))


@csrf_exempt
@never_cache
def track_lead(request):
    if request.method == "OPTIONS":
        return _preflight()
    now = timezone.now()
    try:
        body = _read_body(request)
        if is_bot(request.META.get("HTTP_USER_AGENT", "")):
            return _cors(JsonResponse({"lead": None, "ignored": "bot"}))
        lead_input = leads.parse_lead(body)
        visitor = proxy.visitor(request, lead_input.public_key)
        lead = leads.accept_lead(lead_input, ip_hash=services.hash_ip(visitor.ip, now=now), now=now)
    except TrackingError as exc:
        return _error(exc)
    return _cors(JsonResponse({"lead": str(lead.public_id)}))


# --- /t.js --------------------------------------------------------------------------------------------------------
# In production deploy/nginx.conf serves /t.js straight from the collected static files; this view serves the
# same bytes with the same caching where no proxy runs (development, tests, a bare gunicorn).

SCRIPT_CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"
_script: dict = {}


def load_script() -> dict:
    """The script's bytes, gzipped bytes and strong ETag (a content hash), re-read when the file changes."""
    found = finders.find("tracking/t.js")
    assert isinstance(found, str), "static/tracking/t.js is missing"
    path = Path(found)
    mtime = path.stat().st_mtime_ns
    if _script.get("mtime") != mtime:
        body = path.read_bytes()
        _script.update(
            mtime=mtime,
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
        )
    return _script


@require_safe
def tracker_script(request):
    script = load_script()
    response: HttpResponse
    if script["etag"] in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        body = script["gzipped"] if gzipped else script["body"]
        response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
        if gzipped:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = script["etag"]
    response["Cache-Control"] = SCRIPT_CACHE_CONTROL
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["X-Content-Type-Options"] = "nosniff"
    patch_vary_headers(response, ["Accept-Encoding"])
    return _cors(response)


# --- demo shop ----------------------------------------------------------------------------------------------------


def demo_shop(request):
    """A small shop page for `make run`: the tracker embedded with the demo merchant's key."""
    merchant = Merchant.objects.filter(slug=DEMO_MERCHANT_SLUG).first()
    affiliates = (
        Affiliate.objects.for_merchant(merchant).filter(status=Affiliate.Status.APPROVED).order_by("created_at")[:4]
    )
    return render(request, "tracking/demo_shop.html", {"merchant": merchant, "affiliates": affiliates})
