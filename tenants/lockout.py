"""The login lockout: LOGIN_LOCKOUT.limit password attempts per account, then a wait of its window.

Every check of a password against an account counts here first: the dashboard's and the portal's login form and
the admin's (tenants/forms.py), and portal signup or an invitation naming an existing account
(tenants/users.py, password_matches). An attempt is counted before the password is checked, in one atomic step
(afficone/ratelimit.py), so however many arrive at once only `limit` are checked. A successful login and a password
reset lift the account's lockout. While Redis is unreachable attempts are counted in each web process
(the module docstring of afficone/ratelimit.py says why).
"""

import hashlib

from afficone import ratelimit

LOGIN_LOCKOUT = ratelimit.Rule("login", limit=10, window=15 * 60, on_outage=ratelimit.Outage.LOCAL, fixed=False)
LOCKED_MESSAGE = "Too many failed attempts for this account. Try again in 15 minutes, or reset your password."


def _subject(email: str) -> str:
    # Emails are stored lower-cased and typed any way; the key does not show them.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def count_login_attempt(email: str) -> bool:
    """Counts an attempt at the account's password; False when the account is locked and the password must not be
    checked."""
    return ratelimit.hit(LOGIN_LOCKOUT, _subject(email)).allowed


def lift_lockout(email: str) -> None:
    ratelimit.clear(LOGIN_LOCKOUT, _subject(email))
