"""The one way Afficone talks to Stripe's API.

Every outbound Stripe call goes through `stripe_client()`. Its base addresses come from
`STRIPE_API_BASE` and `STRIPE_CONNECT_BASE`, so tests and local development point it at a
local server that speaks Stripe's HTTP API (tests/fake_stripe/) instead of patching code.
"""

from functools import lru_cache

import stripe
from django.conf import settings

# A web request waits for Stripe at most this long (connect, read), rather than the library's 80 s.
TIMEOUT = (5, 20)
MAX_NETWORK_RETRIES = 2


def stripe_client() -> stripe.StripeClient:
    """A StripeClient for the platform account, configured from settings.

    Calls about a connected account pass `options={"stripe_account": acct_id}` per request.
    The client is reused while the settings stay the same (its HTTP sessions are per thread).
    """
    return _client(
        settings.STRIPE_SECRET_KEY, settings.STRIPE_CLIENT_ID, settings.STRIPE_API_BASE, settings.STRIPE_CONNECT_BASE
    )


@lru_cache(maxsize=8)
def _client(api_key: str, client_id: str, api_base: str, connect_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key=api_key,
        client_id=client_id,
        base_addresses={"api": api_base.rstrip("/"), "connect": connect_base.rstrip("/")},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT),
    )
