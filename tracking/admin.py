from django.contrib import admin

from .models import Click, SeenDomain


@admin.register(Click)
class ClickAdmin(admin.ModelAdmin):
    list_display = ("affiliate", "merchant", "landing_url", "created_at")
    raw_id_fields = ("merchant", "affiliate", "referral")
    date_hierarchy = "created_at"


@admin.register(SeenDomain)
class SeenDomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "merchant", "first_seen_at", "last_seen_at")
    raw_id_fields = ("merchant",)
