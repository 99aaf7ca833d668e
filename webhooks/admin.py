from django.contrib import admin

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "merchant", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("url",)
    raw_id_fields = ("merchant",)
    exclude = ("secret", "previous_secret")  # signing secrets stay out of the admin


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "type", "merchant", "created_at")
    list_filter = ("type",)
    search_fields = ("event_id", "object_id")
    raw_id_fields = ("merchant",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "endpoint", "status", "attempts", "next_attempt_at", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("merchant", "event", "endpoint")


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ("delivery", "number", "response_status", "error", "duration_ms", "attempted_at")
    raw_id_fields = ("merchant", "delivery")
