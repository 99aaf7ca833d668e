"""The affiliates app's models by subject; every name is importable from `affiliates.models`."""

from .affiliates import CODE_PATTERN, REFERRAL_ID_PATTERN, Affiliate, Referral, new_referral_id
from .commissions import NET_AMOUNT, REVENUE_AMOUNT, Commission
from .imports import ImportedAffiliate, ImportPlatform, LegacyCode
from .leads import Lead
from .payouts import Payout, PayoutBatch
from .programs import PROGRAM_SLUG_PATTERN, CommissionType, Program, RuleSource, RuleType
from .rollups import AffiliateCommissionMonth, CommissionDailyStat, CommissionDirtyDay, DailyStat, RollupState
from .tiers import TierPromotion

__all__ = [
    "CommissionType",
    "RuleSource",
    "RuleType",
    "PROGRAM_SLUG_PATTERN",
    "Program",
    "CODE_PATTERN",
    "REFERRAL_ID_PATTERN",
    "Affiliate",
    "new_referral_id",
    "Referral",
    "Lead",
    "Commission",
    "NET_AMOUNT",
    "REVENUE_AMOUNT",
    "PayoutBatch",
    "Payout",
    "DailyStat",
    "RollupState",
    "CommissionDailyStat",
    "AffiliateCommissionMonth",
    "CommissionDirtyDay",
    "ImportPlatform",
    "ImportedAffiliate",
    "LegacyCode",
    "TierPromotion",
]
