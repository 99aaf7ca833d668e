"""/api/v1/webhook_endpoints: the merchant's webhook endpoints through the REST API.

Same conventions as the other resources (api/base.py): scoped to the API
key's merchant by MerchantScopedMixin, another merchant's id answers 404,
errors in the one shape, cursor-paginated lists. `secret` is in the answer
to the create only; it signs every delivery (Standard Webhooks).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from api.base import MerchantScopedMixin, idempotent

from . import services
from .addresses import INVALID_URL, URL_PATTERN
from .models import EventType, WebhookEndpoint
from .serializers import WebhookEndpointOutputSerializer

ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The webhook endpoint's id."
)


class WebhookEndpointCreatedSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="`whsec_...`: verifies the `webhook-signature` of every delivery. Shown only here: store it now."
    )


def _url_field(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(
        URL_PATTERN,
        max_length=2000,
        error_messages={"invalid": INVALID_URL},
        help_text="Where events are POSTed. In production, a public https:// address (checked again after DNS "
        "resolution at each send).",
        **kwargs,
    )


def _events_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        min_length=1,
        max_length=len(EventType.values),
        help_text="The event types to send; at least one.",
        **kwargs,
    )


class _EndpointInput(serializers.Serializer):
    def validate_url(self, url: str) -> str:
        try:
            return services.clean_url(url)
        except services.WebhookError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None

    def validate_events(self, events: list[str]) -> list[str]:
        try:
            return services.clean_events(events)
        except services.WebhookError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None


@extend_schema(tags=["webhook_endpoints"])
@extend_schema_view(
    retrieve=extend_schema(summary="Retrieve a webhook endpoint", parameters=[ID_PARAMETER]),
)
class WebhookEndpointViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """URLs of the merchant's own systems that Afficone sends signed events to."""

    queryset = WebhookEndpoint.objects.all()
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    http_method_names = ["get", "post", "patch", "delete", "head"]

    class CreateInput(_EndpointInput):
        url = _url_field()
        events = _events_field()
        status = serializers.ChoiceField(
            choices=WebhookEndpoint.Status.choices, required=False, default=WebhookEndpoint.Status.ENABLED
        )

    class UpdateInput(_EndpointInput):
        url = _url_field(required=False)
        events = _events_field(required=False)
        status = serializers.ChoiceField(
            choices=WebhookEndpoint.Status.choices, required=False, help_text="`disabled`: sent nothing."
        )

    @extend_schema(summary="List webhook endpoints", responses=WebhookEndpointOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(WebhookEndpointOutputSerializer)

    @extend_schema(responses=WebhookEndpointOutputSerializer)
    def retrieve(self, request, id=None):
        return self.output(WebhookEndpointOutputSerializer, self.get_object())

    @extend_schema(
        summary="Create a webhook endpoint",
        description="The answer holds the endpoint's signing `secret`, shown this once.",
        request=CreateInput,
        responses={201: WebhookEndpointCreatedSerializer},
    )
    @idempotent
    def create(self, request):
        data = self.validated(self.CreateInput)
        merchant = self.merchant
        assert merchant is not None  # HasApiKey let the request in: it has the key's merchant
        endpoint = services.create_endpoint(merchant, **data)
        return self.output(WebhookEndpointCreatedSerializer, endpoint, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update a webhook endpoint",
        description="Change the URL, the event types or the status. Deliveries not yet sent go to the new URL.",
        parameters=[ID_PARAMETER],
        request=UpdateInput,
        responses=WebhookEndpointOutputSerializer,
    )
    def partial_update(self, request, id=None):
        endpoint = self.get_object()
        data = self.validated(self.UpdateInput)
        return self.output(WebhookEndpointOutputSerializer, services.update_endpoint(endpoint, **data))

    @extend_schema(
        summary="Delete a webhook endpoint",
        description="It is sent nothing more; its deliveries are deleted with it.",
        parameters=[ID_PARAMETER],
        responses={204: None},
    )
    def destroy(self, request, id=None):
        services.delete_endpoint(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
