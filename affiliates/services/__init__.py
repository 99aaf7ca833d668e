"""Every write that matters for programs, affiliates, referrals, commissions and payouts (ARCHITECTURE.md).

Split by subject; import from `affiliates.services` as before.
"""

from .affiliates import (  # noqa: F401
    FORMULA_PREFIXES,
    accept_affiliate_invite,
    change_affiliate_status,
    create_affiliate,
    create_referral,
    invite_affiliate,
    referral_by_reference,
    register_affiliate,
    update_affiliate,
    update_payout_settings,
)
from .commissions import (  # noqa: F401
    apply_refund,
    approve_commission,
    approve_due_commissions,
    hold_commission,
    record_commission,
    reprice_commission,
    settle_dispute,
    void_commission,
)
from .errors import (  # noqa: F401
    AffiliateError,
)
from .leads import (  # noqa: F401
    mark_lead_bound,
    matching_lead,
    normalize_email,
    record_lead,
)
from .notices import (  # noqa: F401
    batched_commission_notices,
)
from .payouts import (  # noqa: F401
    create_payout_batch,
    mark_batch_paid,
    mark_payout_paid,
)
from .pricing import (  # noqa: F401
    commission_rule,
    preview_payment,
    program_rule,
)
from .programs import (  # noqa: F401
    create_default_program,
    create_program,
    default_program,
    move_affiliate,
    set_default_program,
    set_program_status,
    signup_program,
    update_program,
)
from .rollups import (  # noqa: F401
    rollup_commission_stats,
)
from .tiers import (  # noqa: F401
    approve_promotion,
    dismiss_promotion,
    note_results,
)
from .two_tier import (  # noqa: F401
    referring_affiliate,
    set_parent,
)
