from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .forms import AdminLoginForm
from .models import ApiKey, Invitation, Membership, Merchant, User

# The admin's login counts against the same per-account lockout as the dashboard's (tenants/lockout.py).
admin.site.login_form = AdminLoginForm


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "date_joined")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "public_key", "stripe_account_id", "stripe_status", "created_at")
    search_fields = ("name", "slug", "public_key", "stripe_account_id")
    list_filter = ("stripe_status",)
    readonly_fields = ("public_id", "public_key", "created_at")
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "merchant", "role", "created_at", "accepted_at", "revoked_at")
    search_fields = ("email",)
    raw_id_fields = ("merchant", "invited_by")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "merchant", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "hashed_key", "created_at", "last_used_at")
    raw_id_fields = ("merchant", "created_by")
