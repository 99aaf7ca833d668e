"""Tolt: partners with their links (?ref=VALUE), referred customers and commissions.

Columns read, by the names of Tolt's documented objects (README, "Importing from Rewardful, FirstPromoter and
Tolt"): the partner's id, email, first_name, last_name, status, payout_method and payout_details.email (a PayPal
email when the method is PayPal); a link's param and value; a customer's customer_id (when it is the Stripe customer
id) and email; a commission's id, amount (cents), status and created_at, with the revenue it was earned on.
"""

from ..models import Affiliate, Commission, ImportPlatform
from .rows import Platform

PLATFORM = Platform(
    key=ImportPlatform.TOLT,
    parameter="ref",
    columns={
        "external_id": ("partner_id",),
        "email": ("email", "partner_email"),
        "first_name": ("first_name", "partner_first_name"),
        "last_name": ("last_name", "partner_last_name"),
        "name": ("name", "partner_name"),
        "status": ("status", "partner_status"),
        "payout_method": ("payout_method",),
        "paypal_email": ("payout_details_email", "paypal_email"),
        "link_parameter": ("link_param", "param"),
        "codes": ("link_value", "value", "ref"),
        "links": ("link", "referral_link", "link_url"),
        "customer": ("customer_id", "stripe_customer_id"),
        "customer_email": ("customer_email",),
        "commission_id": ("commission_id",),
        "commission_amount": ("commission_amount", "amount"),
        "commission_currency": ("commission_currency", "currency"),
        "commission_status": ("commission_status",),
        "commission_earned_at": ("commission_created_at",),
        "commission_due_at": ("scheduled_approval_date", "commission_due_at"),
        "sale_amount": ("revenue", "commission_revenue"),
    },
    affiliate_statuses={
        "active": Affiliate.Status.APPROVED,
        "pending": Affiliate.Status.PENDING,
        "suspended": Affiliate.Status.SUSPENDED,
        "rejected": Affiliate.Status.REJECTED,
    },
    commission_statuses={"pending": Commission.Status.PENDING, "approved": Commission.Status.APPROVED},
    not_imported={
        "paid": "already paid on Tolt",
        "rejected": "rejected on Tolt",
        "refunded": "refunded on Tolt",
    },
)
