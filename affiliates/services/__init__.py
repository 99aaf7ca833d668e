"""Every write that matters for programs, affiliates, referrals, commissions and payouts (STYLE.md services).

Split by subject; import from `affiliates.services` as before.
"""

from .errors import (  # noqa: F401
    AffiliateError,
)
from .affiliates import (  # noqa: F401
    create_default_program,
    default_program,
    is_valid_code,
    suggest_code,
    create_affiliate,
    set_affiliate_status,
    create_referral,
    resolve_reference,
    PROGRAM_FIELDS,
    update_program,
    update_affiliate,
    change_affiliate_status,
    INVITE_SALT,
    INVITE_MAX_AGE,
    invite_token,
    affiliate_for_invite,
    invite_affiliate,
    claim_affiliate_invite,
    sign_up_affiliate,
    FORMULA_PREFIXES,
    update_payout_settings,
    register_affiliate,
    accept_affiliate_invite,
)
from .commissions import (  # noqa: F401
    Rule,
    commission_rule,
    compute_commission,
    within_recurring_limit,
    add_months,
    record_commission,
    batched_commission_notices,
    reprice_commission,
    apply_refund,
    hold_commission,
    settle_dispute,
    approve_commission,
    void_commission,
    approve_due_commissions,
)
from .payouts import (  # noqa: F401
    payable_commissions,
    create_payout_batch,
    payout_minimum,
    owed_back_balances,
    mark_payout_paid,
    mark_batch_paid,
)
from .rollups import (  # noqa: F401
    rollup_daily_stats,
    month_start,
    next_month,
)
