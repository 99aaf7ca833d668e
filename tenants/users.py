"""People's accounts (tenants.User, one per email): the one place that finds, checks and creates them.

Merchant signup and team invitations (tenants.services), affiliate signup and invitations
(affiliates/services/affiliates.py), `createmerchant` and the seeds all come through here.
"""

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError

from .lockout import LOCKED_MESSAGE, count_login_attempt, lift_lockout
from .models import User


class AccountError(ValueError):
    """An account that cannot be used or created as asked; the message is shown to the user."""


class WrongPassword(AccountError):
    """The email has an account and this is not its password."""


def normalize_email(email: str) -> str:
    """Emails are stored lower-cased; people type them any way."""
    return email.strip().lower()


def user_with_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=normalize_email(email)).first()


def validate_new_password(password: str, *, email: str, name: str = "") -> None:
    """Django's password validators, for a new account with this email and name; AccountError with their messages."""
    try:
        password_validation.validate_password(password, User(email=normalize_email(email), name=name))
    except ValidationError as exc:  # its messages are for the user
        raise AccountError(" ".join(exc.messages)) from None


def create_user(*, email: str, password: str | None = None, name: str = "") -> User:
    """A new account. The caller has validated the password (a form, or validate_new_password); None makes an
    account without a usable one, which a password-reset link sets later."""
    return User.objects.create_user(email=normalize_email(email), password=password, name=name.strip())


def password_matches(user: User, password: str) -> bool:
    """An existing account's password, checked under the login's per-account lockout (no password oracle):
    AccountError while the account is locked; a right password lifts its lockout."""
    if not count_login_attempt(user.email):
        raise AccountError(LOCKED_MESSAGE)
    if authenticate(username=user.email, password=password) is None:
        return False
    lift_lockout(user.email)
    return True


def existing_or_new_user(*, email: str, password: str, name: str = "") -> User:
    """The account for `email`: the existing one if `password` is its own (WrongPassword if not), else a new one
    with this password once the validators accept it."""
    user = user_with_email(email)
    if user is not None:
        if not password_matches(user, password):
            raise WrongPassword("An account with this email already exists and this is not its password.")
        return user
    validate_new_password(password, email=email, name=name)
    return create_user(email=email, password=password, name=name)
