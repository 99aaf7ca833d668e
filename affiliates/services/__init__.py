"""Every write that matters for programs, affiliates, referrals, commissions and payouts (STYLE.md services).

Split by subject; import from `affiliates.services` as before.
"""

from .affiliates import (  # noqa: F401
    FORMULA_PREFIXES,
    accept_affiliate_invite,
    change_affiliate_status,
    create_affiliate,
    create_default_program,
    create_referral,
    default_program,
    invite_affiliate,
    referral_by_reference,
    register_affiliate,
    update_affiliate,
    update_payout_settings,
    update_program,
)
from .commissions import (  # noqa: F401
    apply_refund,
    approve_commission,
    approve_due_commissions,
    batched_commission_notices,
    commission_rule,
    hold_commission,
    program_rule,
    record_commission,
    reprice_commission,
    settle_dispute,
    void_commission,
)
from .errors import (  # noqa: F401
    AffiliateError,
)
from .payouts import (  # noqa: F401
    create_payout_batch,
    mark_batch_paid,
    mark_payout_paid,
)
from .rollups import (  # noqa: F401
    rollup_commission_stats,
)
