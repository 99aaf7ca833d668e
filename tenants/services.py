import contextlib
import secrets
from datetime import timedelta

import redis
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from afficone import enqueue

from .models import API_KEY_PREFIX, ApiKey, Invitation, Membership, Merchant, User, hash_api_key, new_proxy_secret
from .tasks import send_invitation_task
from .users import create_user, user_with_email

# An invitation link works once, and only for this long.
INVITATION_TTL = timedelta(days=14)


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
def create_merchant_with_owner(
    *, name: str, owner_email: str, password: str | None = None, stripe_account_id: str | None = None
) -> tuple[Merchant, User]:
    """Creates a merchant and its owner (a new or existing user): the tenant half of affiliates.onboarding's
    create_merchant, which every caller uses, since a merchant needs its default program too."""
    if stripe_account_id and Merchant.objects.filter(stripe_account_id=stripe_account_id).exists():
        raise MerchantError("This Stripe account is already connected to another merchant.")
    user = user_with_email(owner_email) or create_user(email=owner_email, password=password)
    merchant = Merchant.objects.create(
        name=name.strip(),
        slug=_unique_slug(name),
        stripe_account_id=stripe_account_id or None,
        stripe_status=Merchant.StripeStatus.CONNECTED if stripe_account_id else Merchant.StripeStatus.NOT_CONNECTED,
        stripe_connected_at=timezone.now() if stripe_account_id else None,
    )
    Membership.objects.create(merchant=merchant, user=user, role=Membership.Role.OWNER)
    return merchant, user


def create_api_key(merchant: Merchant, *, name: str, created_by: User | None = None) -> tuple[ApiKey, str]:
    """Returns the key and its secret; the secret is not stored and cannot be shown again."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        merchant=merchant,
        name=name.strip() or "API key",
        prefix=raw[:12],
        hashed_key=hash_api_key(raw),
        created_by=created_by,
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
    """Invites `email` with `role` and emails them a single-use accept link (after commit).

    Only an owner may invite another owner. One open invitation per email and
    merchant (a partial unique constraint).
    """
    email = email.strip().lower()
    if role not in Membership.Role.values:
        raise MerchantError("Unknown role.")
    if role == Membership.Role.OWNER and not _is_owner(merchant, invited_by):
        raise MerchantError("Only an owner can invite another owner.")
    if Membership.objects.filter(merchant=merchant, user__email__iexact=email).exists():
        raise MerchantError(f"{email} is already a member of {merchant.name}.")
    # An expired invitation no longer blocks a new one for the same address.
    Invitation.objects.filter(
        merchant=merchant,
        email__iexact=email,
        accepted_at=None,
        revoked_at=None,
        created_at__lt=timezone.now() - INVITATION_TTL,
    ).update(revoked_at=timezone.now())
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(merchant=merchant, email=email, role=role, invited_by=invited_by)
    except IntegrityError:
        raise MerchantError(f"{email} has already been invited.") from None
    enqueue.on_commit(send_invitation_task, invitation.pk)
    return invitation


def open_invitation(token: str) -> Invitation | None:
    """The invitation a link names, if it can still be accepted (unused, not withdrawn, not expired).

    The token is the credential here (as a password-reset token is), so this
    lookup is not scoped to a merchant.
    """
    invitation = Invitation.objects.select_related("merchant", "invited_by").filter(token=token).first()
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        return None
    if invitation.created_at < timezone.now() - INVITATION_TTL:
        return None
    return invitation


@transaction.atomic
def accept_invitation(invitation: Invitation, *, user: User) -> Membership:
    """Single use: the invitation is claimed with a conditional update.

    The link went to the invited address, so only the account with that
    email can accept it.
    """
    if user.email.lower() != invitation.email.lower():
        raise MerchantError(f"This invitation is for {invitation.email}. Log in with that address to accept it.")
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at=None, revoked_at=None, created_at__gte=timezone.now() - INVITATION_TTL
    ).update(accepted_at=timezone.now())
    if claimed != 1:
        raise MerchantError("This invitation has already been used, was withdrawn or has expired.")
    membership, _ = Membership.objects.get_or_create(
        merchant=invitation.merchant, user=user, defaults={"role": invitation.role}
    )
    return membership


@transaction.atomic
def sign_up_by_invitation(invitation: Invitation, *, password: str, name: str = "") -> Membership:
    """A new person creates their account from the invitation link and joins at once."""
    if user_with_email(invitation.email) is not None:
        raise MerchantError(f"An account for {invitation.email} already exists: log in to accept the invitation.")
    user = create_user(email=invitation.email, password=password, name=name)
    return accept_invitation(invitation, user=user)


def revoke_invitation(invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk, accepted_at=None).update(revoked_at=timezone.now())


def _is_owner(merchant: Merchant, user: User) -> bool:
    return Membership.objects.filter(merchant=merchant, user=user, role=Membership.Role.OWNER).exists()


def _ensure_another_owner(membership: Membership) -> None:
    """Raises unless the merchant keeps an owner besides `membership` (owners are locked to serialise this)."""
    owners = list(
        Membership.objects.select_for_update()
        .filter(merchant_id=membership.merchant_id, role=Membership.Role.OWNER)
        .values_list("pk", flat=True)
    )
    if owners == [membership.pk] or not owners:
        raise MerchantError("A merchant needs at least one owner: make someone else an owner first.")


@transaction.atomic
def change_member_role(membership: Membership, *, role: str, changed_by: User) -> Membership:
    """Owners change roles; the last owner cannot step down."""
    if role not in Membership.Role.values:
        raise MerchantError("Unknown role.")
    if not _is_owner(membership.merchant, changed_by):
        raise MerchantError("Only owners can change roles.")
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        _ensure_another_owner(membership)
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.refresh_from_db()
    return membership


@transaction.atomic
def remove_member(membership: Membership, *, removed_by: User) -> None:
    """Owners remove members; the last owner cannot be removed."""
    if not _is_owner(membership.merchant, removed_by):
        raise MerchantError("Only owners can remove members.")
    if membership.role == Membership.Role.OWNER:
        _ensure_another_owner(membership)
    Membership.objects.filter(pk=membership.pk).delete()


def set_payment_provider(merchant: Merchant, *, provider: str) -> Merchant:
    if provider not in Merchant.Provider.values:
        raise MerchantError("Unknown payment provider.")
    Merchant.objects.filter(pk=merchant.pk).update(payment_provider=provider)
    merchant.refresh_from_db()
    return merchant


@transaction.atomic
def update_branding(
    merchant: Merchant, *, name: str, brand_color: str, logo: UploadedFile | None = None, clear_logo: bool = False
) -> Merchant:
    """What the affiliate portal shows: the name, the logo and the brand colour.

    The old logo file is deleted after the transaction commits, once nothing
    points at it.
    """
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    old_logo = merchant.logo.name if merchant.logo else ""
    merchant.name = name.strip()
    merchant.brand_color = brand_color.lower()
    if logo is not None:
        merchant.logo.save(f"{merchant.slug}-{secrets.token_hex(4)}-{logo.name}", logo, save=False)
    elif clear_logo:
        merchant.logo = ""
    merchant.save(update_fields=["name", "brand_color", "logo"])
    new_logo = merchant.logo.name if merchant.logo else ""
    if old_logo and old_logo != new_logo:
        storage = merchant.logo.storage
        transaction.on_commit(lambda: storage.delete(old_logo))
    return merchant


# --- the first-party proxy's secret ---------------------------------------------------------------------------------
# Read on every tracker request that comes through a merchant's proxy (tracking/proxy.py), so it is cached by public
# key in the shared cache; a rotation writes the new secret there once it commits, and readers only ever *add* what
# they read from the database, so a reader that read the old secret just before the rotation cannot put it back.

PROXY_SECRET_CACHE_SECONDS = 300


def _proxy_secret_cache_key(public_key: str) -> str:
    return f"afficone:proxy-secret:{public_key}"


def proxy_secret_for(public_key: str) -> str:
    """The proxy secret of the merchant with this public key ("" when no merchant has it)."""
    key = _proxy_secret_cache_key(public_key)
    try:
        cached = cache.get(key)
    except redis.RedisError:  # the cache is down: the database still answers
        cached = None
    if isinstance(cached, str):
        return cached
    secret = Merchant.objects.filter(public_key=public_key).values_list("proxy_secret", flat=True).first() or ""
    with contextlib.suppress(redis.RedisError):
        cache.add(key, secret, PROXY_SECRET_CACHE_SECONDS)
    return secret


@transaction.atomic
def rotate_proxy_secret(merchant: Merchant) -> Merchant:
    """Gives the merchant a new proxy secret; requests carrying the old one are no longer trusted from the commit on."""
    secret = new_proxy_secret()
    Merchant.objects.filter(pk=merchant.pk).update(proxy_secret=secret)
    key = _proxy_secret_cache_key(merchant.public_key)

    def publish() -> None:
        # With the cache unreachable readers use the database meanwhile; only an entry that a Redis which refused
        # this write still holds could outlive it, for at most PROXY_SECRET_CACHE_SECONDS.
        with contextlib.suppress(redis.RedisError):
            cache.set(key, secret, PROXY_SECRET_CACHE_SECONDS)

    transaction.on_commit(publish)
    merchant.refresh_from_db(fields=["proxy_secret"])
    return merchant
