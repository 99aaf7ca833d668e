"""The shared pieces of the REST API (/api/v1/): tenant scoping, errors, idempotency, pagination, schema.

- `MerchantScopedMixin`: the one way an API view reaches tenant-owned rows.
- `exception_handler`: every error, whatever its cause, answers
  `{"error": {"code", "message", "field"}}`.
- `idempotent`: POST handlers honour an `Idempotency-Key` header.
- `CursorPagination`: lists are cursor-paginated (`results`, `next`, `previous`).
- `api.schema.ApiAutoSchema` documents the error responses and the
  idempotency header on every operation (a module of its own: drf-spectacular's
  AutoSchema imports DRF's generic views, which import the pagination class here).
"""

import functools
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.filters import BaseFilterBackend
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView, set_rollback

if TYPE_CHECKING:  # the stubs' name for a filter backend's shape; not in DRF itself
    from rest_framework.generics import BaseFilterProtocol

from affiliates.services import AffiliateError
from tenants.models import ApiKey, IdempotencyKey, Merchant

from .filters import QueryFilterBackend, QueryFilters

logger = logging.getLogger("afficone.api")


def request_merchant(request) -> Merchant | None:
    """The tenant of the API key that authenticated `request` (never a browser session's)."""
    return request.auth.merchant if isinstance(getattr(request, "auth", None), ApiKey) else None


# --- tenant scoping -----------------------------------------------------------------------------------------------


class MerchantScopedMixin:
    """Scopes a DRF generic view to the API key's merchant; it cannot be skipped.

    `get_queryset()` filters `queryset` by the merchant, then hands it to
    `scope_queryset()`, which subclasses override to add filters. A subclass
    that defines `get_queryset()`, or lists this mixin after a DRF view class
    in its bases (so DRF's unscoped `get_queryset()` would win), is refused
    when the class is created.
    """

    # No OPTIONS: the API is not for browsers (no CORS), and the schema describes every operation.
    http_method_names = ["get", "post", "patch", "head"]
    # Lists filter by the query parameters a viewset declares in `filters` (api/filters.py).
    filter_backends: "Sequence[type[BaseFilterBackend | BaseFilterProtocol[Any]]]" = [QueryFilterBackend]
    filters: type[QueryFilters] | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in vars(cls) or cls.get_queryset is not MerchantScopedMixin.get_queryset:
            raise TypeError(
                f"{cls.__name__} must not override get_queryset(): override scope_queryset() instead, and list "
                "MerchantScopedMixin before the DRF view class, so every query stays scoped to the merchant."
            )

    @property
    def merchant(self) -> Merchant | None:
        return request_merchant(self.request)

    def initial(self, request, *args, **kwargs):
        if any("\x00" in str(value) for value in kwargs.values()):
            raise exceptions.NotFound()  # no id holds a NUL, and Postgres refuses one in a query
        super().initial(request, *args, **kwargs)
        if not (request.META.get("CONTENT_LENGTH") or "0").strip().isdigit():
            raise exceptions.ParseError("Content-Length must be a number of bytes.")
        if request.method in ("POST", "PATCH"):
            # DRF's parsers read the stream unbounded; Django's `body` enforces DATA_UPLOAD_MAX_MEMORY_SIZE (413).
            _ = request.body

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            limit, remaining, reset = rate_limit
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset)  # Unix time when the window ends
        return response

    def get_queryset(self):
        return self.scope_queryset(super().get_queryset().for_merchant(self.merchant))

    def scope_queryset(self, queryset):
        return queryset

    def perform_create(self, serializer):
        serializer.save(merchant=self.merchant)

    def list_response(self, output_serializer):
        """One page of `get_queryset()` filtered by the query (`filters`), rendered with `output_serializer`."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            output_serializer(page, many=True, context=self.get_serializer_context()).data
        )

    def validated(self, input_serializer, data=None, **kwargs) -> dict:
        """`data` (default: the JSON body) validated by `input_serializer`, or the error raised.

        A JSON body must carry each field in its documented JSON type (DRF
        would take `"5"` for 5 and `1` for true). A reference to an object the
        merchant does not have answers 404, naming the field.
        """
        from_body = data is None
        serializer = input_serializer(
            data=self.request.data if from_body else data, context=self.get_serializer_context(), **kwargs
        )
        type_errors = json_type_errors(serializer, serializer.initial_data) if from_body else {}
        if type_errors:
            raise exceptions.ValidationError(type_errors)
        if not serializer.is_valid():
            path, leaf = _first_error(serializer.errors)
            if getattr(leaf, "code", None) == "does_not_exist":
                raise ReferenceNotFound(str(leaf), field=field_path(path))
            if getattr(leaf, "code", None) == "unique":
                raise Conflict(str(leaf), code="unique", field=field_path(path))
            raise exceptions.ValidationError(serializer.errors)
        return serializer.validated_data

    def output(self, output_serializer, instance, *, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(output_serializer(instance, context=self.get_serializer_context()).data, status=status_code)


def json_type_errors(serializer: serializers.Serializer, data) -> dict:
    """Fields of a JSON body whose value has the wrong JSON type, as DRF validation errors."""
    if not isinstance(data, dict):
        return {}  # the serializer itself refuses a body that is not an object
    errors: dict = {}
    for name, field in serializer.fields.items():
        if field.read_only or name not in data or data[name] is None:
            continue  # absent and null values are the field's own business
        value = data[name]
        if isinstance(field, serializers.Serializer):
            nested = json_type_errors(field, value)
            if nested:
                errors[name] = nested
            continue
        if isinstance(field, serializers.BooleanField):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(field, serializers.IntegerField):
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
        elif isinstance(field, (serializers.CharField, serializers.ChoiceField, serializers.RelatedField)):
            ok, expected = isinstance(value, str), "a string"
        else:
            continue
        if not ok:
            errors[name] = [exceptions.ErrorDetail(f"Must be {expected}.", code="invalid_type")]
    return errors


@extend_schema_field(OpenApiTypes.UUID)
class PublicIdField(serializers.RelatedField):
    """A reference, by its public id, to a row of the request's merchant.

    Another merchant's id is as unknown as one that never existed.
    """

    default_error_messages = {
        "does_not_exist": "No {model} with the id {value}.",
        "invalid": "{value} is not a valid {model} id.",
    }

    def __init__(self, *, lookup: str = "public_id", pattern: str | None = None, **kwargs):
        self.lookup = lookup
        self.pattern = re.compile(pattern) if pattern else None
        super().__init__(**kwargs)

    def get_queryset(self):
        return super().get_queryset().for_merchant(request_merchant(self.context.get("request")))

    def to_internal_value(self, data):
        model = self.queryset.model._meta.verbose_name
        value = str(data)
        if self.pattern is not None and not self.pattern.fullmatch(value):
            self.fail("invalid", model=model, value=value[:80])
        try:
            return self.get_queryset().get(**{self.lookup: value})
        except self.queryset.model.DoesNotExist:
            self.fail("does_not_exist", model=model, value=value[:80])
        except (TypeError, ValueError, DjangoValidationError):  # e.g. a malformed UUID
            self.fail("invalid", model=model, value=value[:80])

    def to_representation(self, value):
        return str(getattr(value, self.lookup))


UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


# --- errors -------------------------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: `not_found`, `required`, `throttled`, …")
    message = serializers.CharField(help_text="For people: what went wrong and what to do.")
    field = serializers.CharField(
        allow_null=True, help_text="The request field at fault (dotted for nested fields), or null."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"

    def __init__(self, detail=None, code=None, *, field: str | None = None):
        super().__init__(detail, code)
        self.field = field


class ReferenceNotFound(exceptions.NotFound):
    """The request names, in its body, an object this merchant does not have."""

    def __init__(self, detail: str, *, field: str):
        super().__init__(detail)
        self.field = field


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This Idempotency-Key was already used with a different request. Use a new key for a new request."
    default_code = "idempotency_key_reused"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _first_error(detail, path: tuple = ()) -> tuple[tuple, object]:
    """The first leaf of a (nested) DRF error detail, with the field path that leads to it."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if value:
                return _first_error(value, path + (str(key),))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                if value:
                    return _first_error(value, path + (str(index),))
            else:
                return path, value
    return path, detail


def field_path(path: Sequence[str]) -> str:
    """A nested field's name: its keys joined with dots; a part that is an index, "[1]...", joins without one, so a
    field may name `rules[1].commission.bps`."""
    return ".".join(path).replace(".[", "[")


def error_body(code: str, message: str, field: str | None = None) -> dict:
    """The one error shape. An error may quote the input, and JSON cannot carry a lone surrogate: it reads as "?"."""
    return {"error": {"code": code, "message": _encodable(message), "field": field and _encodable(field)}}


def _encodable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _describe(exc: exceptions.APIException, context) -> tuple[str, str, str | None]:
    if isinstance(exc, exceptions.ValidationError):
        path, leaf = _first_error(exc.detail)
        path = tuple(p for p in path if p != "non_field_errors")
        return getattr(leaf, "code", None) or "invalid", str(leaf), field_path(path) or None
    if isinstance(exc, exceptions.NotAuthenticated):
        return "not_authenticated", "Authenticate with the header `Authorization: Bearer <api key>`.", None
    if isinstance(exc, exceptions.NotFound) and str(exc.detail) == exceptions.NotFound.default_detail:
        queryset = getattr(context.get("view"), "queryset", None)
        if queryset is not None:
            return "not_found", f"No {queryset.model._meta.verbose_name} with this id.", None
    detail = exc.detail
    if isinstance(detail, (list, dict)):
        _, detail = _first_error(detail)
    return getattr(detail, "code", None) or exc.default_code, str(detail), getattr(exc, "field", None)


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: one JSON shape for every error, 500s included."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("The request was malformed.")
    elif isinstance(exc, AffiliateError):
        # A service refused: the request conflicts with the state of the rows it names (or, where the error says so
        # with a `status`, names something that does not exist: 400, or a service Stripe did not answer: 502).
        refused = exc
        exc = Conflict(str(exc), code=getattr(exc, "code", None) or "conflict", field=getattr(exc, "field", None))
        exc.status_code = getattr(refused, "status", Conflict.status_code)

    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        code, message, field = _describe(exc, context)
        set_rollback()
        return Response(error_body(code, message, field), status=exc.status_code, headers=headers)

    request = context.get("request")
    logger.exception("Unhandled error in %s", getattr(request, "path", "the API"), exc_info=exc)
    got_request_exception.send(sender=None, request=getattr(request, "_request", request))
    set_rollback()
    return Response(
        error_body("server_error", "Something went wrong on our side. It has been logged; please try again."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


class UnknownEndpoint(APIView):
    """Any path under /api/v1/ that names no endpoint: a 404 in the error shape, not an HTML page."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    schema = None

    def initial(self, request, *args, **kwargs):
        message = f"There is no API endpoint at {request.path}."
        if request.path.endswith("/") and _resolves(request.path.rstrip("/")):
            message += f" Paths have no trailing slash: {request.path.rstrip('/')}"
        raise exceptions.NotFound(f"{message} The endpoints are listed at /api/v1/docs/.")


def _resolves(path: str) -> bool:
    try:
        return resolve(path).url_name != "unknown"
    except Resolver404:
        return False


# --- idempotency --------------------------------------------------------------------------------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = timedelta(hours=24)
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces


def idempotent(handler):
    """Makes a POST handler honour an `Idempotency-Key` header (Stripe's and the IETF draft's semantics).

    The first request with a key runs and its successful response is stored
    for 24 hours; a retry with the same key and the same request (method,
    path, query and body) gets the stored response again, with the header
    `Idempotent-Replayed: true`, and runs nothing. The same key with a
    different request is refused (409, `idempotency_key_reused`). Errors are not stored, so a corrected
    request may reuse the key.

    The key row is inserted in the transaction that runs the handler, so a
    concurrent retry waits on the unique index until the first request ends,
    then replays its response; a crash rolls both back.
    """

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
            raise exceptions.ValidationError(
                {IDEMPOTENCY_HEADER: ["An Idempotency-Key is 1 to 255 printable ASCII characters without spaces."]}
            )
        merchant = request_merchant(request)
        fingerprint = hashlib.sha256(
            b"\0".join([request.method.encode(), request.get_full_path().encode(), request.body])
        ).hexdigest()
        with transaction.atomic():
            IdempotencyKey.objects.for_merchant(merchant).filter(
                created_at__lt=timezone.now() - IDEMPOTENCY_TTL
            ).delete()
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        merchant=merchant, key=key, fingerprint=fingerprint, response_status=0
                    )
            except IntegrityError:
                stored = IdempotencyKey.objects.for_merchant(merchant).get(key=key)
                if stored.fingerprint != fingerprint:
                    raise IdempotencyKeyReused() from None
                return Response(
                    stored.response_body, status=stored.response_status, headers={"Idempotent-Replayed": "true"}
                )
            response = handler(view, request, *args, **kwargs)
            if response.status_code >= 400:
                record.delete()
            else:
                body = json.loads(json.dumps(response.data, cls=JSONEncoder))
                IdempotencyKey.objects.filter(pk=record.pk).update(
                    response_status=response.status_code, response_body=body
                )
        return response

    wrapper.is_idempotent = True
    return wrapper


# --- pagination ---------------------------------------------------------------------------------------------------


class CursorPagination(pagination.CursorPagination):
    """Newest first; `next` and `previous` are full URLs; `limit` sets the page size (at most 100)."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100
    invalid_cursor_message = "No page has this cursor: use the `next` or `previous` URL of a list response as is."

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = False
        # The position is compared with created_at; anything but a timestamp would reach the database.
        if cursor is False or (
            cursor is not None and cursor.position is not None and parse_datetime(cursor.position) is None
        ):
            # DRF's answer, 404: no page is named by this cursor.
            raise ReferenceNotFound(self.invalid_cursor_message, field=self.cursor_query_param)
        return cursor

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = f"Results per page (default {self.page_size}, at most {self.max_page_size})."
        return parameters

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        try:
            size = int(value)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"Give a whole number from 1 to {self.max_page_size}."]}, code="invalid"
            )
        return size
