"""The OpenAPI schema of the REST API: drf-spectacular's AutoSchema plus what every operation can answer."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from .base import IDEMPOTENCY_HEADER, ErrorSerializer


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses every operation can give.

    Every operation documents 400 (bad input or query), 401 (missing,
    invalid or revoked key) and 429 (rate limit); operations on one object
    404 (an unknown id in the path, the body or a cursor); writes 409 (a
    service refused, or an Idempotency-Key was reused), 413 and 415, and
    502 where the view says it `asks_stripe` (a Stripe lookup failed).
    """

    ERROR_DESCRIPTIONS = {
        "400": "Bad input: malformed JSON, a missing or invalid field or query parameter.",
        "401": "The API key is missing, invalid or revoked.",
        "404": "No such object for this merchant (another merchant's ids are unknown too); `field` names a "
        "reference in the request that was not found.",
        "409": "The request conflicts with the current state: approving a paid commission, a code already taken, "
        "or an Idempotency-Key already used with a different request.",
        "413": "The request body is too large.",
        "415": "The body is not JSON (send `Content-Type: application/json`).",
        "502": "Stripe did not answer a question this request had to ask it (a promotion code, a customer); nothing "
        "was changed: retry later.",
        "429": "Too many requests for this API key; retry after the number of seconds in `Retry-After`. "
        "Every response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix time).",
    }

    def _handler(self):
        action = getattr(self.view, "action", None)
        return getattr(self.view, action or self.method.lower(), None)

    def _is_idempotent(self) -> bool:
        return self.method == "POST" and getattr(self._handler(), "is_idempotent", False)

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        filters = getattr(self.view, "filters", None)
        if filters is not None and getattr(self.view, "action", None) == "list":
            parameters = [filters, *parameters]  # the list's query parameters, as api/filters.py applies them
        if self._is_idempotent():
            parameters = [
                *parameters,
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    description="Makes a retry safe: the same key with the same request replays the first response "
                    "(kept 24 hours). 1 to 255 printable ASCII characters.",
                    pattern=r"^[\x21-\x7e]{1,255}$",
                ),
            ]
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "404", "429"]  # 404: an unknown id in the path, the body or a cursor
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["409", "413", "415"]
            if getattr(self.view, "asks_stripe", False):
                codes.append("502")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction) | {
                    "description": self.ERROR_DESCRIPTIONS[code]
                }
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "429":
            headers["Retry-After"] = {"schema": {"type": "string"}, "description": "Seconds until the limit resets."}
        return headers
