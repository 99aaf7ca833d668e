"""Connect's OAuth endpoints (connect.stripe.com) of the fake."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from .wire import RecordedRequest, _oauth_error


class ConnectEndpoints:
    """OAuth authorize, token and deauthorize; mixed into FakeStripe, whose state they read."""

    def oauth_authorize(self, req: RecordedRequest) -> str:
        q = req.query
        if q.get("client_id") != self.client_id:
            raise _oauth_error(401, "invalid_client", f"No such application: '{q.get('client_id', '')}'")
        if q.get("response_type") != "code":
            raise _oauth_error(400, "unsupported_response_type", "Only response_type=code is supported.")
        scope = q.get("scope", "read_only")
        if scope not in ("read_only", "read_write"):
            raise _oauth_error(400, "invalid_scope", f"Invalid scope: {scope}")
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri:
            raise _oauth_error(400, "invalid_request", "No redirect_uri provided and none configured.")
        params = {"state": q["state"]} if "state" in q else {}
        if self.authorizing_account is None:
            params = {"error": "access_denied", "error_description": "The user denied your request", **params}
        else:
            params = {"scope": scope, "code": self.issue_code(self.authorizing_account, scope=scope), **params}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return redirect_uri + separator + urlencode(params)

    def oauth_token(self, req: RecordedRequest) -> dict:
        self._check_secret_key(req)
        form = req.form
        if form.get("grant_type") != "authorization_code":
            raise _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {form.get('grant_type', '')}")
        code = form.get("code", "")
        if not code:
            raise _oauth_error(400, "invalid_request", "No authorization code provided")
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                raise _oauth_error(400, "invalid_grant", f"Authorization code does not exist: {code}")
            if grant.used:
                raise _oauth_error(
                    400,
                    "invalid_grant",
                    "This authorization code has already been used. "
                    "All tokens issued with this code have been revoked.",
                )
            grant.used = True
            self._connected.add(grant.account_id)
            self._revoked.discard(grant.account_id)
            if grant.scope == "read_write":
                self._writable.add(grant.account_id)
            else:
                self._writable.discard(grant.account_id)
        mode = "live" if self.secret_key.startswith("sk_live") else "test"
        return {
            "access_token": f"{'rk' if grant.scope == 'read_only' else 'sk'}_{mode}_{secrets.token_hex(24)}",
            "livemode": mode == "live",
            "refresh_token": "rt_" + secrets.token_hex(24),
            "scope": grant.scope,
            "stripe_publishable_key": f"pk_{mode}_{secrets.token_hex(24)}",
            "stripe_user_id": grant.account_id,
            "token_type": "bearer",
        }

    def oauth_deauthorize(self, req: RecordedRequest) -> dict:
        self._check_secret_key(req)
        client_id, account_id = req.form.get("client_id", ""), req.form.get("stripe_user_id", "")
        if not client_id:
            raise _oauth_error(400, "invalid_request", "No client_id provided")
        if client_id != self.client_id:
            raise _oauth_error(401, "invalid_client", f"No such application: '{client_id}'")
        if not account_id:
            raise _oauth_error(400, "invalid_request", "No stripe_user_id provided")
        with self._lock:
            if account_id not in self._connected:
                raise _oauth_error(
                    401,
                    "invalid_client",
                    f"This application is not connected to stripe account "
                    f"{account_id}, or that account does not exist.",
                )
            self._connected.discard(account_id)
            self._revoked.add(account_id)
        return {"stripe_user_id": account_id}
