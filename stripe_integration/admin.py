from django.contrib import admin

from .models import StripeEvent, StripeSync


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("stripe_id", "type", "account", "merchant", "status", "received_at", "processed_at", "attempts")
    list_filter = ("status", "type")
    search_fields = ("stripe_id", "account", "waiting_for")
    raw_id_fields = ("merchant",)
    readonly_fields = ("received_at",)


@admin.register(StripeSync)
class StripeSyncAdmin(admin.ModelAdmin):
    list_display = ("merchant", "account", "trigger", "status", "since", "started_at", "finished_at", "events_stored")
    list_filter = ("status", "trigger")
    search_fields = ("account",)
    raw_id_fields = ("merchant", "requested_by")
