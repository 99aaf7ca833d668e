"""FirstPromoter: promoters with their referral ids (?fpr=REF_ID), referred customers and rewards.

Columns read, by the names of FirstPromoter's documented objects (README, "Importing from Rewardful, FirstPromoter
and Tolt"): the promoter's id, email, status, default_ref_id or a promotion's ref_id (or its referral_link), and its
profile's first_name, last_name and paypal_email; a lead's uid (when it is the Stripe customer id) and email; a
reward's id, amount (cents), unit, status and created_at, with the sale amount.
"""

from ..models import Affiliate, Commission, ImportPlatform
from .rows import Platform

PLATFORM = Platform(
    key=ImportPlatform.FIRSTPROMOTER,
    parameter="fpr",
    columns={
        "external_id": ("promoter_id",),
        "email": ("email", "promoter_email"),
        "first_name": ("first_name", "profile_first_name"),
        "last_name": ("last_name", "profile_last_name"),
        "name": ("name", "promoter_name"),
        "paypal_email": ("paypal_email", "profile_paypal_email"),
        "status": ("status", "promoter_status"),
        "codes": ("ref_id", "default_ref_id", "ref_ids"),
        "links": ("referral_link", "referral_links"),
        "customer": ("lead_uid", "uid", "stripe_customer_id", "customer_id"),
        "customer_email": ("lead_email",),
        "commission_id": ("reward_id", "commission_id"),
        "commission_amount": ("reward_amount", "commission_amount"),
        "commission_currency": ("reward_currency", "currency"),
        "commission_status": ("reward_status", "commission_status"),
        "commission_earned_at": ("reward_created_at", "commission_created_at"),
        "reward_unit": ("reward_unit", "unit"),
        "sale_amount": ("sale_amount", "sale_amount_cents"),
    },
    affiliate_statuses={
        "approved": Affiliate.Status.APPROVED,
        "active": Affiliate.Status.APPROVED,
        "accepted": Affiliate.Status.APPROVED,
        "pending": Affiliate.Status.PENDING,
        "denied": Affiliate.Status.REJECTED,
        "rejected": Affiliate.Status.REJECTED,
        "blocked": Affiliate.Status.SUSPENDED,
        "inactive": Affiliate.Status.SUSPENDED,
    },
    commission_statuses={"pending": Commission.Status.PENDING, "approved": Commission.Status.APPROVED},
    not_imported={"paid": "already paid on FirstPromoter", "denied": "denied on FirstPromoter"},
)
