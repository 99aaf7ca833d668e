from django.contrib import admin

from .models import Affiliate, Commission, Payout, PayoutBatch, Program, Referral


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "merchant",
        "commission_type",
        "commission_bps",
        "recurring_months",
        "cookie_days",
        "hold_days",
    )
    raw_id_fields = ("merchant",)


@admin.register(Affiliate)
class AffiliateAdmin(admin.ModelAdmin):
    list_display = ("code", "email", "name", "merchant", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("code", "email", "name")
    raw_id_fields = ("merchant", "program", "user")


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ("rid", "affiliate", "merchant", "stripe_customer_id", "created_at", "converted_at")
    search_fields = ("rid", "stripe_customer_id", "customer_email")
    raw_id_fields = ("merchant", "affiliate")


@admin.register(Commission)
class CommissionAdmin(admin.ModelAdmin):
    list_display = (
        "source_id",
        "affiliate",
        "merchant",
        "amount",
        "reversed_amount",
        "currency",
        "status",
        "created_at",
    )
    list_filter = ("status", "source_type", "is_on_hold", "is_self_referral")
    search_fields = ("source_id", "stripe_charge_id", "stripe_payment_intent_id")
    raw_id_fields = ("merchant", "affiliate", "referral", "payout")


class PayoutInline(admin.TabularInline):
    model = Payout
    extra = 0
    raw_id_fields = ("affiliate",)


@admin.register(PayoutBatch)
class PayoutBatchAdmin(admin.ModelAdmin):
    list_display = ("public_id", "merchant", "created_at")
    raw_id_fields = ("merchant", "created_by")
    inlines = [PayoutInline]


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ("affiliate", "merchant", "amount", "currency", "status", "reference", "created_at", "paid_at")
    list_filter = ("status",)
    raw_id_fields = ("merchant", "batch", "affiliate")
