"""Every write that matters for programs, affiliates, referrals, commissions and payouts (STYLE.md services).

Split by subject; import from `affiliates.services` as before.
"""

from .affiliates import (  # noqa: F401
    FORMULA_PREFIXES,
    PROGRAM_FIELDS,
    accept_affiliate_invite,
    change_affiliate_status,
    claim_affiliate_invite,
    create_affiliate,
    create_default_program,
    create_referral,
    default_program,
    invite_affiliate,
    is_valid_code,
    referral_by_reference,
    register_affiliate,
    set_affiliate_status,
    sign_up_affiliate,
    suggest_code,
    update_affiliate,
    update_payout_settings,
    update_program,
)
from .commissions import (  # noqa: F401
    Rule,
    add_months,
    apply_refund,
    approve_commission,
    approve_due_commissions,
    batched_commission_notices,
    commission_rule,
    compute_commission,
    hold_commission,
    program_rule,
    record_commission,
    reprice_commission,
    settle_dispute,
    void_commission,
    within_recurring_limit,
)
from .errors import (  # noqa: F401
    AffiliateError,
)
from .payouts import (  # noqa: F401
    create_payout_batch,
    mark_batch_paid,
    mark_payout_paid,
    owed_back_balances,
    payout_minimum,
)
from .rollups import (  # noqa: F401
    month_start,
    next_month,
    rollup_commission_stats,
)
