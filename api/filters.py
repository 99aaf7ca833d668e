"""List filters of the REST API, declared once per resource.

A viewset's `filters` is a serializer of query parameters (a `QueryFilters`): each field's name is the parameter
and its `source` the ORM lookup it filters by (the name itself when no source is given). `QueryFilterBackend`, DRF's
filter backend hook, validates a list request's query against it (a bad value answers 400 naming the parameter) and
filters the merchant's rows by what it declares; `api.schema.ApiAutoSchema` documents the same fields as the list's
query parameters. Parameters a resource does not declare are ignored.
"""

from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend


class QueryFilters(serializers.Serializer):
    """The query parameters a list filters by: field name → ORM lookup (`source`), e.g.
    `email = serializers.EmailField(source="email__iexact", required=False)`."""


class QueryFilterBackend(BaseFilterBackend):
    """Filters a list action's queryset (already scoped to the merchant) by the view's declared `filters`."""

    def filter_queryset(self, request, queryset, view):
        filters = getattr(view, "filters", None)
        if filters is None or getattr(view, "action", None) != "list":
            return queryset
        query = filters(data=request.query_params.dict(), context=view.get_serializer_context())
        query.is_valid(raise_exception=True)
        return queryset.filter(**query.validated_data)


def affiliate_filter(source: str = "affiliate__public_id") -> serializers.UUIDField:
    # An unknown id (another merchant's too) filters everything out; it is not an error.
    return serializers.UUIDField(source=source, required=False, help_text="An affiliate's id.")
