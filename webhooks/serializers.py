"""A webhook endpoint as the REST API shows it: the API's answers (webhooks/api.py) and the object of a test event
(webhooks/events.py)."""

from rest_framework import serializers

from .models import EventType, WebhookEndpoint


class _BlankAsNull(serializers.CharField):
    def to_representation(self, value: str) -> str | None:  # type: ignore[override]  # null in place of ""
        return value or None


class WebhookEndpointOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices))
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices)
    disabled_reason = _BlankAsNull(
        allow_null=True,
        help_text="Why Afficone disabled the endpoint (its attempts all failed for days); null when it is enabled or "
        "was disabled by hand. Enabling it clears this.",
    )
    created = serializers.DateTimeField(source="created_at")
