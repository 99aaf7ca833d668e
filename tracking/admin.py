from django.contrib import admin

from .models import Click, SeenDomain, UnstoredClick


@admin.register(Click)
class ClickAdmin(admin.ModelAdmin):
    list_display = ("affiliate", "merchant", "landing_url", "created_at")
    raw_id_fields = ("merchant", "affiliate", "referral")
    date_hierarchy = "created_at"


@admin.register(SeenDomain)
class SeenDomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "merchant", "first_seen_at", "last_seen_at")
    raw_id_fields = ("merchant",)


@admin.register(UnstoredClick)
class UnstoredClickAdmin(admin.ModelAdmin):
    """Clicks the database refused (tracking/storage.py), kept with the reason."""

    list_display = ("created_at", "merchant", "error")
    raw_id_fields = ("merchant",)
    readonly_fields = ("merchant", "entry", "error", "created_at")
