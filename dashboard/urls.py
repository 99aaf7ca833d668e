from django.urls import path

from . import attribution, commissions, importing, payouts, programs, views

# No app_name: afficone/urls.py includes these with the portal's under the namespace "affiliates", whose URL
# names predate the split into dashboard/ and portal/.
urlpatterns = [
    path("dashboard/", views.overview, name="overview"),
    path("onboarding/", views.onboarding, name="onboarding"),
    path("affiliates/", views.affiliate_list, name="affiliate_list"),
    path("affiliates/invite/", views.affiliate_invite, name="affiliate_invite"),
    path("affiliates/import/", importing.affiliate_import, name="affiliate_import"),
    path("affiliates/import/confirm/", importing.affiliate_import_confirm, name="affiliate_import_confirm"),
    path("affiliates/status/", views.affiliate_bulk_status, name="affiliate_bulk_status"),
    path("affiliates/<uuid:uid>/", views.affiliate_detail, name="affiliate_detail"),
    path("affiliates/<uuid:uid>/status/", views.affiliate_status, name="affiliate_status"),
    path("affiliates/<uuid:uid>/program/", programs.affiliate_program, name="affiliate_program"),
    path("affiliates/<uuid:uid>/parent/", programs.affiliate_parent, name="affiliate_parent"),
    path("affiliates/<uuid:uid>/promotion-codes/", attribution.promotion_code_add, name="promotion_code_add"),
    path(
        "affiliates/<uuid:uid>/promotion-codes/create/",
        attribution.promotion_code_create,
        name="promotion_code_create",
    ),
    path(
        "affiliates/<uuid:uid>/promotion-codes/<int:pk>/remove/",
        attribution.promotion_code_remove,
        name="promotion_code_remove",
    ),
    path("affiliates/<uuid:uid>/attribute/", attribution.attribute_customer, name="attribute_customer"),
    path("affiliates/<uuid:uid>/backfills/<int:pk>/retry/", attribution.backfill_retry, name="backfill_retry"),
    path("commissions/", commissions.commission_list, name="commission_list"),
    path("commissions/<uuid:code>/approve/", commissions.commission_approve, name="commission_approve"),
    path("commissions/<uuid:code>/void/", commissions.commission_void, name="commission_void"),
    path("payouts/", payouts.payout_list, name="payout_list"),
    path("payouts/batches/", payouts.payout_batch_create, name="payout_batch_create"),
    path("payouts/batches/<uuid:code>/paid/", payouts.payout_batch_mark_paid, name="payout_batch_mark_paid"),
    path("payouts/batches/<uuid:code>/<str:kind>.csv", payouts.payout_batch_export, name="payout_batch_export"),
    path("payouts/<uuid:code>/paid/", payouts.payout_mark_paid, name="payout_mark_paid"),
    path("program/", programs.programs, name="programs"),
    path("programs/", programs.program_list, name="program_list"),
    path("programs/new/", programs.program_create, name="program_create"),
    path("programs/<uuid:code>/", programs.program_edit, name="program_edit"),
    path("programs/<uuid:code>/status/", programs.program_status, name="program_status"),
    path("programs/<uuid:code>/default/", programs.program_make_default, name="program_make_default"),
    path("program/confirm/", views.program_confirm, name="program_confirm"),
    path("promotions/<uuid:code>/approve/", programs.promotion_approve, name="promotion_approve"),
    path("promotions/<uuid:code>/dismiss/", programs.promotion_dismiss, name="promotion_dismiss"),
    path("settings/", views.settings, name="settings"),
]
