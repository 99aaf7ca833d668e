"""Connect with Stripe: OAuth between a merchant and its Stripe account, scope `read_only` unless the merchant asks
for `read_write` (then Afficone may create promotion codes for its affiliates; nothing else is ever written). The scope
Stripe granted is kept as `Merchant.stripe_scope`.

The OAuth `state` is signed (django.core.signing, so it cannot be forged), expires after
STATE_MAX_AGE seconds, names the merchant and the user who started the flow, and carries a
nonce that is also kept in that user's session. The callback pops the nonce from the session
before anything else, so each state works once (allauth's statekit).

A Stripe account belongs to at most one merchant (`Merchant.stripe_account_id` is unique): the
webhook maps an event's `account` to its tenant through it. A disconnected merchant keeps its
account id, so the events Stripe still sends for it are stored under that merchant but not
attributed (handlers check `merchant.is_stripe_connected`).
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import stripe
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import Merchant, User

from .client import stripe_client

logger = logging.getLogger(__name__)

SCOPES = (Merchant.StripeScope.READ_ONLY, Merchant.StripeScope.READ_WRITE)
STATE_SALT = "afficone.stripe_integration.connect"
STATE_MAX_AGE = 10 * 60  # seconds
SESSION_KEY = "stripe_oauth"


class ConnectError(Exception):
    """The connection could not be made or undone; the message is shown to the user as is.

    `status` is the HTTP status a view answers with: 400 for a request we refuse, 502 when
    Stripe could not be reached.
    """

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PendingConnection:
    """What the session remembers between the redirect to Stripe and the callback."""

    next_url: str


def begin_stripe_connect(
    session: SessionBase, *, merchant: Merchant, user: User, redirect_uri: str, next_url: str, write: bool = False
) -> str:
    """Starts OAuth for `merchant`: remembers a fresh nonce in the session, returns Stripe's authorize URL.

    `write` asks for `read_write` (to create promotion codes); read only otherwise.

    Starting again replaces the previous nonce, so only the latest flow can finish.
    """
    nonce = secrets.token_urlsafe(32)
    session[SESSION_KEY] = {"nonce": nonce, "next": next_url}
    state = signing.dumps({"m": str(merchant.public_id), "u": user.pk, "n": nonce}, salt=STATE_SALT)
    return stripe_client().oauth.authorize_url(
        {"scope": SCOPES[write], "state": state, "redirect_uri": redirect_uri, "stripe_landing": "login"}
    )


def abandon_stripe_connect(session: SessionBase) -> PendingConnection:
    """Forgets the flow in progress (the user declined on Stripe); its state can no longer be used."""
    pending = session.pop(SESSION_KEY, None) or {}
    return PendingConnection(next_url=pending.get("next") or "")


def take_pending_connection(session: SessionBase, state: str, *, merchant: Merchant, user: User) -> PendingConnection:
    """Checks the callback's `state` and consumes it: a second call with the same state fails.

    Raises ConnectError when the state is missing, forged, expired, already used, or was
    issued to another user or for another merchant than the current one.
    """
    pending = session.pop(SESSION_KEY, None)
    if not pending:
        raise ConnectError(
            "This Stripe connection link has already been used or was not started from this browser. "
            "Nothing was connected; please click Connect with Stripe again."
        )
    try:
        payload = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.SignatureExpired:
        raise ConnectError(
            f"The Stripe connection was not completed within {STATE_MAX_AGE // 60} minutes and has expired. "
            "Nothing was connected; please click Connect with Stripe again."
        ) from None
    except signing.BadSignature:
        raise ConnectError(
            "The reply from Stripe could not be verified (its state was altered). "
            "Nothing was connected; please click Connect with Stripe again."
        ) from None
    if not isinstance(payload, dict) or not secrets.compare_digest(str(payload.get("n", "")), pending["nonce"]):
        raise ConnectError(
            "This Stripe connection link has already been used or belongs to another attempt. "
            "Nothing was connected; please click Connect with Stripe again."
        )
    if payload.get("u") != user.pk or payload.get("m") != str(merchant.public_id):
        raise ConnectError(
            f"This Stripe connection was started by another user or for another merchant than {merchant.name}, "
            "so it was not completed. Nothing was connected; please start again from this merchant."
        )
    return PendingConnection(next_url=pending.get("next") or "")


def complete_stripe_connect(merchant: Merchant, *, code: str) -> Merchant:
    """Exchanges the authorization `code` and stores the connected account on `merchant`.

    The account is refused, and nothing stored, when another merchant holds it while connected.
    One that another merchant has disconnected moves here (that merchant keeps its stored events).
    Reconnecting the merchant's own account is fine and marks it connected again.
    """
    if not code:
        raise ConnectError(
            "Stripe's reply carried no authorization code. Nothing was connected; please click "
            "Connect with Stripe again."
        )
    client = stripe_client()
    try:
        token = client.oauth.token({"grant_type": "authorization_code", "code": code})
    except stripe.oauth_error.OAuthError as exc:
        raise ConnectError(
            f"Stripe did not accept the authorization ({exc.user_message or exc.code}). "
            "Nothing was connected; please click Connect with Stripe again."
        ) from None
    except stripe.StripeError as exc:
        raise _unavailable(exc, "Nothing was connected; please try again in a moment.") from None
    account_id = token.stripe_user_id
    if not account_id:
        raise ConnectError(
            "Stripe's reply named no account. Nothing was connected; please click Connect with Stripe again.",
            status=502,
        )
    granted = token.to_dict().get("scope")
    scope = granted if granted in SCOPES else Merchant.StripeScope.READ_ONLY
    previous = merchant.stripe_account_id if merchant.stripe_status == Merchant.StripeStatus.CONNECTED else None
    merchant = _store_connection(merchant, account_id=account_id, account_name=_account_name(account_id), scope=scope)
    if previous and previous != account_id:
        _revoke_quietly(previous)
    return merchant


def _revoke_quietly(account_id: str) -> None:
    """Best effort: Afficone should not keep reading an account that the merchant replaced."""
    try:
        stripe_client().oauth.deauthorize({"stripe_user_id": account_id})
    except stripe.StripeError as exc:
        logger.warning("Could not revoke access to replaced Stripe account %s: %s", account_id, exc)


def _account_name(account_id: str) -> str:
    """The name the merchant knows its Stripe account by; blank if Stripe cannot tell us now."""
    try:
        account = stripe_client().v1.accounts.retrieve(account_id).to_dict()
    except stripe.StripeError as exc:
        # The code is spent already; connect without the name rather than make the merchant start over.
        logger.warning("Could not retrieve Stripe account %s: %s", account_id, exc)
        return ""
    settings = account.get("settings") or {}
    profile = account.get("business_profile") or {}
    display_name = (settings.get("dashboard") or {}).get("display_name")
    return (display_name or profile.get("name") or account.get("email") or "")[:255]


def _store_connection(merchant: Merchant, *, account_id: str, account_name: str, scope: str) -> Merchant:
    already_connected = ConnectError(
        f"The Stripe account {account_id} is already connected to another merchant on Afficone. "
        "Disconnect it there first, or connect a different Stripe account. Nothing was changed here."
    )
    try:
        with transaction.atomic():
            others = Merchant.objects.select_for_update().exclude(pk=merchant.pk)
            holder = others.filter(stripe_account_id=account_id).first()
            if holder is not None:
                if holder.stripe_status == Merchant.StripeStatus.CONNECTED:
                    raise already_connected
                # Its owner has just proved control of the account again, for this merchant.
                Merchant.objects.filter(pk=holder.pk).update(stripe_account_id=None)
            Merchant.objects.filter(pk=merchant.pk).update(
                stripe_account_id=account_id,
                stripe_account_name=account_name,
                stripe_status=Merchant.StripeStatus.CONNECTED,
                stripe_scope=scope,
                stripe_connected_at=timezone.now(),
                stripe_disconnected_at=None,
            )
    except IntegrityError:  # another merchant took the account between our check and our write
        raise already_connected from None
    merchant.refresh_from_db()
    logger.info("Merchant %s connected Stripe account %s", merchant.pk, account_id)
    return merchant


def disconnect_stripe(merchant: Merchant) -> Merchant:
    """Revokes Afficone's access to the merchant's Stripe account, then marks the merchant disconnected.

    If Stripe no longer knows the connection (the merchant revoked it in Stripe's dashboard),
    the merchant is marked disconnected all the same. If Stripe cannot be reached, nothing changes,
    so the merchant never believes access was revoked when it was not.
    """
    if not merchant.stripe_account_id or merchant.stripe_status != Merchant.StripeStatus.CONNECTED:
        raise ConnectError("No Stripe account is connected, so there is nothing to disconnect.")
    try:
        stripe_client().oauth.deauthorize({"stripe_user_id": merchant.stripe_account_id})
    except stripe.oauth_error.InvalidClientError:
        logger.info("Stripe account %s was already disconnected on Stripe's side", merchant.stripe_account_id)
    except stripe.StripeError as exc:
        raise _unavailable(exc, "The account is still connected; please try again in a moment.") from None
    mark_stripe_disconnected(merchant)
    return merchant


def _unavailable(exc: stripe.StripeError, outcome: str) -> ConnectError:
    """A 502 for Stripe being unreachable or failing, or for Afficone's own platform keys being refused."""
    if isinstance(exc, stripe.AuthenticationError):
        logger.error("Stripe refused the platform's secret key (check STRIPE_SECRET_KEY): %s", exc)
        return ConnectError(
            "Stripe refused this Afficone installation's platform key, so nothing changed. "
            "Its operator needs to set STRIPE_SECRET_KEY and STRIPE_CLIENT_ID.",
            status=502,
        )
    logger.warning("Stripe call failed: %r", exc)
    return ConnectError(f"Stripe could not be reached or had a problem. {outcome}", status=502)


def mark_stripe_disconnected(merchant: Merchant, *, occurred_at: datetime | None = None) -> bool:
    """Marks `merchant` disconnected from Stripe; returns whether this call changed it.

    Idempotent (a repeated `account.application.deauthorized` changes nothing). The account id
    is kept so later events still name this merchant: they are stored but not attributed.
    `occurred_at` (the event's `created`) stops a late deauthorization event from undoing a
    reconnection that happened after it.
    """
    now = timezone.now()
    connected = Merchant.objects.filter(pk=merchant.pk, stripe_status=Merchant.StripeStatus.CONNECTED)
    if occurred_at is not None:
        connected = connected.exclude(stripe_connected_at__gt=occurred_at)
    changed = connected.update(stripe_status=Merchant.StripeStatus.DISCONNECTED, stripe_disconnected_at=now) == 1
    merchant.refresh_from_db()
    if changed:
        logger.info("Merchant %s disconnected from Stripe account %s", merchant.pk, merchant.stripe_account_id)
    return changed
