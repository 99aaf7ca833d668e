"""Programs, affiliates and referrals: creating, inviting, signing up and managing them."""

import re
import secrets

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from afficone import enqueue
from tenants.models import Merchant, User
from tenants.users import AccountError, WrongPassword, existing_or_new_user

from ..email_tasks import notify_affiliate_approved_task, notify_affiliate_invited_task, notify_new_application_task
from ..models import CODE_PATTERN, Affiliate, CommissionType, Program, Referral
from ..queries import code_holder, referral_with_program
from ..signals import affiliate_created, affiliate_updated, referral_created, send_for
from .errors import AffiliateError
from .programs import default_program, open_program
from .two_tier import referring_affiliate

# --- affiliates ---------------------------------------------------------------------------------------------------


def is_valid_code(code: str) -> bool:
    return bool(re.fullmatch(CODE_PATTERN, code or ""))


def suggest_code(merchant: Merchant, seed: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]", "", slugify(seed.split("@")[0]))[:40] or "partner"
    code = base
    while code_holder(merchant.pk, code) is not None:
        code = f"{base}-{secrets.token_hex(2)}"
    return code


@transaction.atomic
def create_affiliate(
    merchant: Merchant,
    *,
    email: str,
    name: str = "",
    code: str | None = None,
    program: Program | None = None,
    status: str = Affiliate.Status.APPROVED,
    user=None,
    parent: Affiliate | None = None,
) -> Affiliate:
    """Affiliates the merchant creates start approved; self-signups pass the status the program gives. `parent`: the
    affiliate it joined through (two_tier.py), the same merchant's."""
    email = email.strip().lower()
    code = (code or "").strip() or suggest_code(merchant, name or email)
    if not is_valid_code(code):
        raise AffiliateError("A code is 1 to 64 letters, digits, '-' or '_'.")
    if code_holder(merchant.pk, code) is not None:
        raise AffiliateError(f"The code {code!r} is already taken.")
    if Affiliate.objects.filter(merchant=merchant, email__iexact=email).exists():
        raise AffiliateError(f"{email} is already an affiliate.")
    if parent is not None and parent.merchant_id != merchant.pk:
        raise AffiliateError("Unknown affiliate.", field="parent")
    program = open_program(merchant.pk, program or default_program(merchant))
    try:
        with transaction.atomic():
            affiliate = Affiliate.objects.create(
                merchant=merchant,
                program=program,
                email=email,
                name=name.strip(),
                code=code,
                status=status,
                user=user,
                parent=parent,
                approved_at=timezone.now() if status == Affiliate.Status.APPROVED else None,
            )
    except IntegrityError:
        raise AffiliateError("That code or email is already taken.") from None
    send_for(affiliate_created, affiliate)
    return affiliate


def set_affiliate_status(affiliate: Affiliate, status: str) -> Affiliate:
    if status not in Affiliate.Status.values:
        raise AffiliateError("Unknown status.")
    updates = {"status": status}
    if status == Affiliate.Status.APPROVED and affiliate.approved_at is None:
        updates["approved_at"] = timezone.now()
    Affiliate.objects.filter(pk=affiliate.pk).update(**updates)
    affiliate.refresh_from_db()
    send_for(affiliate_updated, affiliate)
    return affiliate


# --- referrals ----------------------------------------------------------------------------------------------------


def create_referral(affiliate: Affiliate, **fields) -> Referral:
    referral = Referral.objects.create(merchant_id=affiliate.merchant_id, affiliate=affiliate, **fields)
    send_for(referral_created, referral)
    return referral


def referral_by_reference(
    merchant: Merchant, reference: str | None, *, source: str = Referral.Source.CLICK
) -> Referral | None:
    """The written referral named by `reference`: a referral id, or an affiliate's code (or a code its links had on
    the platform the merchant came from).

    A code (say, from a coupon the merchant's backend knows) gets a fresh
    referral for that affiliate, of `source`. Scoped to `merchant`: another tenant's ids
    resolve to None. Referral ids still in the click buffer are found by
    tracking.services.resolve_reference, which writes the buffer first.
    """
    reference = (reference or "").strip()
    if not reference or len(reference) > 200:
        return None
    # With the affiliate and program, which recording a commission reads next.
    referral = referral_with_program(merchant.pk, rid=reference)
    if referral is not None:
        return referral
    affiliate = code_holder(merchant.pk, reference)
    if affiliate is None:
        return None
    return create_referral(affiliate, source=source)


# --- dashboard and portal -----------------------------------------------------------------------------------------


@transaction.atomic
def update_affiliate(
    affiliate: Affiliate,
    *,
    name: str,
    code: str,
    commission_type_override: str = "",
    commission_bps_override: int | None = None,
    commission_amount_override: int | None = None,
) -> Affiliate:
    """Edits an affiliate's name, code and commission override. Links with the old code stop working."""
    code = code.strip()
    if not is_valid_code(code):
        raise AffiliateError("A code is 1 to 64 letters, digits, '-' or '_'.")
    holder = code_holder(affiliate.merchant_id, code)
    if holder is not None and holder.pk != affiliate.pk:
        raise AffiliateError(f"The code {code!r} is already taken.")
    if commission_type_override == CommissionType.PERCENT:
        if commission_bps_override is None or not 0 <= commission_bps_override <= 10000:
            raise AffiliateError("Give the override percentage, between 0% and 100%.")
        commission_amount_override = None
    elif commission_type_override == CommissionType.FIXED:
        if commission_amount_override is None or commission_amount_override < 0:
            raise AffiliateError("Give the override amount.")
        commission_bps_override = None
    else:
        commission_type_override, commission_bps_override, commission_amount_override = "", None, None
    try:
        with transaction.atomic():
            Affiliate.objects.filter(pk=affiliate.pk).update(
                name=name.strip(),
                code=code,
                commission_type_override=commission_type_override,
                commission_bps_override=commission_bps_override,
                commission_amount_override=commission_amount_override,
            )
    except IntegrityError:
        raise AffiliateError(f"The code {code!r} is already taken.") from None
    affiliate.refresh_from_db()
    send_for(affiliate_updated, affiliate)
    return affiliate


def change_affiliate_status(affiliate: Affiliate, *, status: str) -> Affiliate:
    """Approve, reject or suspend. The affiliate is emailed when approved for the first time or again."""
    was_approved = affiliate.status == Affiliate.Status.APPROVED
    affiliate = set_affiliate_status(affiliate, status)
    if status == Affiliate.Status.APPROVED and not was_approved:
        enqueue.on_commit(notify_affiliate_approved_task, affiliate.pk)
    return affiliate


@transaction.atomic
def invite_affiliate(merchant: Merchant, *, email: str, name: str = "", code: str | None = None) -> Affiliate:
    """Creates an approved affiliate and emails them a link to set up their portal account (valid 14 days)."""
    affiliate = create_affiliate(merchant, email=email, name=name, code=code, status=Affiliate.Status.APPROVED)
    enqueue.on_commit(notify_affiliate_invited_task, affiliate.pk)
    return affiliate


@transaction.atomic
def claim_affiliate_invite(affiliate: Affiliate, *, user) -> Affiliate:
    """Links the invited affiliate to the account that accepted; single use (conditional update)."""
    claimed = Affiliate.objects.filter(pk=affiliate.pk, user=None).update(user=user)
    if claimed != 1:
        raise AffiliateError("This invitation has already been used.")
    affiliate.refresh_from_db()
    return affiliate


@transaction.atomic
def sign_up_affiliate(
    merchant: Merchant,
    *,
    user,
    name: str = "",
    code: str | None = None,
    program: Program | None = None,
    referred_by: str = "",
) -> Affiliate:
    """A self-signup on the portal, into `program` (the default one unless given): pending, or approved at once if
    the program auto-approves. `referred_by` (the visitor's referral id or an affiliate code): where it names an
    approved affiliate of the merchant, that affiliate is the new one's parent (two_tier.py).

    The merchant's owners and admins are told of every new affiliate; an
    auto-approved one also gets the approval email with their link.
    """
    program = program or default_program(merchant)
    if program.is_archived or not program.signup_open:
        raise AffiliateError(f"{merchant.name} is not accepting new affiliates at the moment.")
    if Affiliate.objects.for_merchant(merchant).filter(Q(user=user) | Q(email__iexact=user.email)).exists():
        raise AffiliateError("You already have an affiliate account here: log in instead.")
    status = Affiliate.Status.APPROVED if program.auto_approve else Affiliate.Status.PENDING
    affiliate = create_affiliate(
        merchant,
        email=user.email,
        name=name or user.name,
        code=code,
        program=program,
        status=status,
        user=user,
        parent=referring_affiliate(merchant, referred_by),
    )
    enqueue.on_commit(notify_new_application_task, affiliate.pk)
    if status == Affiliate.Status.APPROVED:
        enqueue.on_commit(notify_affiliate_approved_task, affiliate.pk)
    return affiliate


FORMULA_PREFIXES = ("=", "+", "-", "@")


def update_payout_settings(
    affiliate: Affiliate,
    *,
    payout_method: str,
    paypal_email: str = "",
    bank_details: str = "",
    notify_on_commission: bool,
) -> Affiliate:
    if payout_method not in Affiliate.PayoutMethod.values:
        raise AffiliateError("Choose PayPal or bank transfer.")
    if payout_method == Affiliate.PayoutMethod.PAYPAL and not paypal_email.strip():
        raise AffiliateError("Give the PayPal email address to pay.")
    if paypal_email.strip()[:1] in FORMULA_PREFIXES:
        # Such an address ends up in the PayPal CSV, where a spreadsheet would run it as a formula.
        raise AffiliateError("A PayPal email address cannot start with = + - or @.")
    if payout_method == Affiliate.PayoutMethod.BANK and not bank_details.strip():
        raise AffiliateError("Give your bank details (account holder, IBAN or account number, bank).")
    Affiliate.objects.filter(pk=affiliate.pk).update(
        payout_method=payout_method,
        paypal_email=paypal_email.strip().lower(),
        bank_details=bank_details.strip(),
        notify_on_commission=notify_on_commission,
    )
    affiliate.refresh_from_db()
    return affiliate


def _account(*, email: str, password: str, name: str, wrong_password: str) -> User:
    """The person's account (tenants/users.py): theirs if this is its password, else a new one."""
    try:
        return existing_or_new_user(email=email, password=password, name=name)
    except WrongPassword:
        raise AffiliateError(wrong_password) from None
    except AccountError as exc:
        raise AffiliateError(str(exc)) from None


@transaction.atomic
def register_affiliate(
    merchant: Merchant,
    *,
    email: str,
    password: str,
    name: str = "",
    program: Program | None = None,
    referred_by: str = "",
) -> tuple[Affiliate, User]:
    """Portal signup: one global account per email (tenants.User), one affiliate per merchant.

    An email that already has an account must give that account's password;
    a new email gets an account with a validated password.
    """
    user = _account(
        email=email,
        password=password,
        name=name,
        wrong_password=(
            "An account with this email already exists: enter its password, or reset it from the login page."
        ),
    )
    affiliate = sign_up_affiliate(merchant, user=user, name=name, program=program, referred_by=referred_by)
    return affiliate, user


@transaction.atomic
def accept_affiliate_invite(affiliate: Affiliate, *, password: str) -> tuple[Affiliate, User]:
    """An invited affiliate sets a password (new email) or proves theirs (existing account); the invite is then used."""
    user = _account(
        email=affiliate.email,
        password=password,
        name=affiliate.name,
        wrong_password="You already have an account with this email: enter its password.",
    )
    return claim_affiliate_invite(affiliate, user=user), user
