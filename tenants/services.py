import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from .models import API_KEY_PREFIX, ApiKey, Invitation, Membership, Merchant, User, hash_api_key


class MerchantError(ValueError):
    """A request that cannot be carried out; the message is shown to the user."""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "merchant"
    slug, n = base, 1
    while Merchant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def create_merchant(
    *, name: str, owner_email: str, password: str | None = None, stripe_account_id: str | None = None
) -> tuple[Merchant, User]:
    """Creates a merchant, its default program and its owner (a new or existing user)."""
    from affiliates.services import create_default_program

    if stripe_account_id and Merchant.objects.filter(stripe_account_id=stripe_account_id).exists():
        raise MerchantError("This Stripe account is already connected to another merchant.")
    email = owner_email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    merchant = Merchant.objects.create(
        name=name.strip(),
        slug=_unique_slug(name),
        stripe_account_id=stripe_account_id or None,
        stripe_status=Merchant.StripeStatus.CONNECTED if stripe_account_id else Merchant.StripeStatus.NOT_CONNECTED,
        stripe_connected_at=timezone.now() if stripe_account_id else None,
    )
    Membership.objects.create(merchant=merchant, user=user, role=Membership.Role.OWNER)
    create_default_program(merchant)
    return merchant, user


def create_api_key(merchant: Merchant, *, name: str, created_by: User | None = None) -> tuple[ApiKey, str]:
    """Returns the key and its secret; the secret is not stored and cannot be shown again."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        merchant=merchant, name=name.strip() or "API key", prefix=raw[:12], hashed_key=hash_api_key(raw), created_by=created_by
    )
    return key, raw


def revoke_api_key(key: ApiKey) -> ApiKey:
    ApiKey.objects.filter(pk=key.pk, revoked_at=None).update(revoked_at=timezone.now())
    key.refresh_from_db()
    return key


def authenticate_api_key(raw: str) -> ApiKey | None:
    """The active key for `raw`, its use recorded (at most once a minute, to spare the database)."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    key = ApiKey.objects.select_related("merchant").filter(hashed_key=hash_api_key(raw), revoked_at=None).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def invite_member(merchant: Merchant, *, email: str, role: str, invited_by: User) -> Invitation:
    email = email.strip().lower()
    if role not in Membership.Role.values:
        raise MerchantError("Unknown role.")
    if Membership.objects.filter(merchant=merchant, user__email__iexact=email).exists():
        raise MerchantError(f"{email} is already a member of {merchant.name}.")
    try:
        with transaction.atomic():
            return Invitation.objects.create(merchant=merchant, email=email, role=role, invited_by=invited_by)
    except IntegrityError:
        raise MerchantError(f"{email} has already been invited.") from None


@transaction.atomic
def accept_invitation(invitation: Invitation, *, user: User) -> Membership:
    """Single use: the invitation is claimed with a conditional update."""
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        accepted_at=timezone.now()
    )
    if claimed != 1:
        raise MerchantError("This invitation has already been used or was withdrawn.")
    membership, _ = Membership.objects.get_or_create(
        merchant=invitation.merchant, user=user, defaults={"role": invitation.role}
    )
    return membership


def revoke_invitation(invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk, accepted_at=None).update(revoked_at=timezone.now())
