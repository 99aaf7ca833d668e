import hashlib
import secrets
import uuid

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from .scoping import TenantQuerySet


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person: a merchant's team member, an affiliate, or both. Logs in by email."""

    username = None
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=200, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = UserManager()

    def __str__(self) -> str:
        return self.email


def new_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


PROXY_SECRET_PREFIX = "afps_"


def new_proxy_secret() -> str:
    # Letters, digits, "-" and "_" only: it is pasted into nginx configs, JavaScript and JSON as it is.
    return PROXY_SECRET_PREFIX + secrets.token_urlsafe(32)


class Merchant(models.Model):
    """A tenant: one company selling through Stripe."""

    class StripeStatus(models.TextChoices):
        NOT_CONNECTED = "not_connected", "Not connected"
        CONNECTED = "connected", "Connected"
        DISCONNECTED = "disconnected", "Disconnected"

    class Provider(models.TextChoices):
        STRIPE = "stripe", "Stripe"

    class StripeScope(models.TextChoices):
        """The access the merchant granted when connecting: read only (the default), or read and write, which
        lets Afficone create promotion codes for affiliates from a coupon (stripe_integration/services/
        promotion_codes.py)."""

        READ_ONLY = "read_only", "Read only"
        READ_WRITE = "read_write", "Read and write"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True, help_text="Names the merchant in the affiliate portal's URL.")
    public_key = models.CharField(max_length=64, unique=True, default=new_public_key, editable=False)
    # Sent by the merchant's own proxy in front of the tracker (Afficone-Proxy-Secret): only then are the visitor's
    # forwarded address and host trusted (tracking/proxy.py). Shown in Settings; rotating it refuses the old one.
    proxy_secret = models.CharField(max_length=64, default=new_proxy_secret, editable=False)
    website = models.URLField(blank=True)
    payment_provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.STRIPE)
    stripe_account_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_account_name = models.CharField(max_length=255, blank=True)
    stripe_status = models.CharField(max_length=20, choices=StripeStatus.choices, default=StripeStatus.NOT_CONNECTED)
    stripe_scope = models.CharField(max_length=20, choices=StripeScope.choices, default=StripeScope.READ_ONLY)
    stripe_connected_at = models.DateTimeField(null=True, blank=True)
    stripe_disconnected_at = models.DateTimeField(null=True, blank=True)
    brand_color = models.CharField(max_length=7, default="#4f46e5")
    logo = models.FileField(upload_to="logos/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(brand_color__regex=r"^#[0-9A-Fa-f]{6}$"), name="merchant_brand_color_hex"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_stripe_connected(self) -> bool:
        return self.stripe_status == self.StripeStatus.CONNECTED and bool(self.stripe_account_id)

    @property
    def can_write_to_stripe(self) -> bool:
        return self.is_stripe_connected and self.stripe_scope == self.StripeScope.READ_WRITE


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage the team, API keys and settings."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


def new_invitation_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    """An invitation to join a merchant's team; the token is single-use."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invitations")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token = models.CharField(max_length=64, unique=True, default=new_invitation_token)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "merchant",
                condition=models.Q(accepted_at=None, revoked_at=None),
                name="uniq_open_invitation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.merchant}"


API_KEY_PREFIX = "afk_"


def hash_api_key(raw: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A secret key for the REST API. Shown once; only its hash is stored."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, to recognise it.")
    hashed_key = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyKey(models.Model):
    """A POST to the REST API made with an `Idempotency-Key` header, and the response it got.

    A retry with the same key and the same request replays the stored
    response; the same key with a different request is refused. Keys are
    scoped to the merchant and forgotten after a day.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    # sha256 of method, path, query string and body: what "the same request" means.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "key"], name="uniq_idempotency_key")]
        indexes = [models.Index(fields=["merchant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.key} → {self.response_status}"
