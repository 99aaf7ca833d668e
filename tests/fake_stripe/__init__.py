"""A small local server that speaks enough of Stripe's HTTP API for the official library.

Tests reach it through the one StripeClient factory (stripe_integration/client.py), whose
base addresses come from `STRIPE_API_BASE` and `STRIPE_CONNECT_BASE`; the `fake_stripe`
fixture points both at this server. Nothing of ours is patched: the real library builds the
real requests, and this server answers them the way Stripe does, errors included.

Connect (connect.stripe.com):
  GET  /oauth/authorize     the consent page: redirects to `redirect_uri` with `code` and `state`
                            for the account set by `authorize_as()`, or with `error=access_denied`
  POST /oauth/token         grant_type=authorization_code; codes are single use
  POST /oauth/deauthorize   client_id + stripe_user_id

API (api.stripe.com), backed by an in-memory store filled with `put(obj, account=...)`:
  GET  /v1/<plural>/<id>    e.g. /v1/customers/cus_1, /v1/checkout/sessions/cs_1; 404 resource_missing if unknown
  GET  /v1/<plural>?k=v     a list filtered by equality on fields (`payment[payment_intent]` reads nested ones),
                            newest first, paginated as Stripe does (limit, starting_after, has_more); a promotion
                            code's `code` matches case-insensitively, as Stripe's does; `ids[]` keeps the objects of
                            those ids (products); an invoice's `subscription` is found in both invoice shapes
  GET  /v1/customers/search?query=email:'x@y'   Stripe's search (email, exact and case-insensitive; `name`, `metadata`)
  GET  /v1/checkout/sessions/<id>/line_items   the items given to `put_line_items` (404 for an unknown session)
  GET  /v1/account          the account named by the Stripe-Account header
  POST /v1/promotion_codes  creates a code for a coupon (`promotion[coupon]`, or `coupon` on older API versions),
                            only on an account that granted read_write (OAuth, or `grant_write()`); 403 else
  GET  /v1/events           the account's events added with `add_event()`, as Stripe lists them: newest first,
                            `created[gt|gte|lt|lte]`, `type`, `types[]`, `limit` (1 to 100, default 10) and
                            `starting_after` / `ending_before` paging, in Stripe's list shape
`expand[]` works on objects and lists (`data.` prefixed): an id is replaced by the object of that id, including
objects with no endpoint of their own such as discounts (`put_expandable`). Objects put for a connected account are
only visible with that account's Stripe-Account header. An account whose access was revoked (`oauth/deauthorize`, or
`deny_access()`) is refused 403 (or the status given), as Stripe refuses a platform that lost access.

Every request is recorded in `requests` (method, path, query, headers, form) for assertions.
"""

from .server import FakeStripe, fake_stripe
from .wire import RecordedRequest, StripeHTTPError, plural_path

__all__ = ["FakeStripe", "RecordedRequest", "StripeHTTPError", "fake_stripe", "plural_path"]
