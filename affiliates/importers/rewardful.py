"""Rewardful: affiliates with their link tokens (?via=TOKEN), referred Stripe customers and commissions.

Columns read, by the names of Rewardful's documented objects (README, "Importing from Rewardful, FirstPromoter and
Tolt"): the affiliate object's id, email, first_name, last_name, paypal_email, state and links[].token (or the
link's url); the referral's stripe_customer_id; the commission object's id, amount (cents), currency, state,
created_at and due_at, with its sale's sale_amount_cents. The help centre's import spreadsheet (Stripe Customer
ID or Imported ID, Email, First Name, Last Name, PayPal Email, Token) reads as it is.
"""

from ..models import Affiliate, Commission, ImportPlatform
from .rows import Platform

PLATFORM = Platform(
    key=ImportPlatform.REWARDFUL,
    parameter="via",
    columns={
        "external_id": ("affiliate_id",),
        "email": ("email", "affiliate_email"),
        "first_name": ("first_name", "affiliate_first_name"),
        "last_name": ("last_name", "affiliate_last_name"),
        "name": ("name", "affiliate_name"),
        "paypal_email": ("paypal_email", "affiliate_paypal_email"),
        "status": ("state", "affiliate_state"),
        "codes": ("token", "link_token", "tokens"),
        "links": ("link_url", "url", "links"),
        "customer": ("stripe_customer_id", "imported_id", "referral_stripe_customer_id"),
        "customer_email": ("customer_email", "referral_customer_email"),
        "commission_id": ("commission_id",),
        "commission_amount": ("commission_amount", "commission_amount_cents"),
        "commission_currency": ("commission_currency", "currency"),
        "commission_status": ("commission_state",),
        "commission_earned_at": ("commission_created_at",),
        "commission_due_at": ("commission_due_at", "due_at"),
        "sale_amount": ("sale_amount_cents", "sale_amount"),
    },
    # Disabled and suspicious affiliates stop tracking and earning there.
    affiliate_statuses={
        "active": Affiliate.Status.APPROVED,
        "disabled": Affiliate.Status.SUSPENDED,
        "suspicious": Affiliate.Status.SUSPENDED,
    },
    commission_statuses={"pending": Commission.Status.PENDING, "due": Commission.Status.APPROVED},
    not_imported={"paid": "already paid on Rewardful", "voided": "voided on Rewardful"},
)
