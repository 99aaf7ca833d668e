"""REST API authentication and rate limiting: `Authorization: Bearer <api key>`.

A key is looked up (by its hash) on every request, so a revoked key is
refused at once, on every web process. Requests are counted per key in
Redis (afficone/ratelimit.py), so the limit holds across processes.
"""

import time

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from afficone import ratelimit
from tenants.models import ApiKey
from tenants.services import authenticate_api_key

KEYWORD = "Bearer"


class ApiClient:
    """The caller of an API request: a merchant's code holding a key, not a person."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key: ApiKey):
        self.key = key
        self.merchant = key.merchant

    def __str__(self) -> str:
        return f"API key {self.key.prefix}…"


class ApiKeyAuthentication(BaseAuthentication):
    """Sets `request.user` to an ApiClient, `request.auth` to the ApiKey and `request.merchant` to its tenant."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None  # no credentials: HasApiKey answers 401
        if header[0].lower() != KEYWORD.lower().encode():
            raise exceptions.AuthenticationFailed("Use the header `Authorization: Bearer <api key>`.")
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be `Bearer` followed by one API key.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("This API key is not valid.") from None
        key = authenticate_api_key(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("This API key is not valid or has been revoked.")
        request.merchant = key.merchant
        return ApiClient(key), key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) with a WWW-Authenticate header when the key is missing or wrong.
        return f'{KEYWORD} realm="api"'


class HasApiKey(BasePermission):
    message = "Authenticate with the header `Authorization: Bearer <api key>`."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed-window request count per API key, kept in Redis.

    The rate is REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"], e.g.
    "600/min". Counted by afficone/ratelimit.py in one atomic step, so
    concurrent requests on several web processes are all counted. The count
    is kept under the API key's public id (not its pk), so counts never
    carry over to another key.
    """

    scope = "api_key"
    durations = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def __init__(self):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        self.num_requests, self.duration = self.parse_rate(rate)
        self.retry_after: float | None = None

    def parse_rate(self, rate: str | None) -> tuple[int | None, int]:
        if not rate:
            return None, 1
        count, period = rate.split("/")
        return int(count), self.durations[period[0]]

    def allow_request(self, request, view) -> bool:
        key = request.auth
        if self.num_requests is None or not isinstance(key, ApiKey):
            return True
        now = time.time()
        rule = ratelimit.Rule("api", limit=self.num_requests, window=self.duration, on_outage=ratelimit.Outage.OPEN)
        hit = ratelimit.hit(rule, str(key.public_id), now=now)
        if hit.count is None or hit.reset_at is None:
            return True  # Redis unreachable: fails open, uncounted (afficone/ratelimit.py says why)
        # Read by MerchantScopedMixin.finalize_response for the X-RateLimit-* headers.
        request.rate_limit = (self.num_requests, hit.remaining, int(hit.reset_at))
        if hit.allowed:
            return True
        self.retry_after = hit.reset_at - now
        return False

    def wait(self) -> float | None:
        return self.retry_after


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from Settings → API keys, sent as `Authorization: Bearer afk_…`.",
        }
