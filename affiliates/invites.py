"""Signed invitation links for affiliates the merchant invites: made when the email goes out, read when it is used."""

from datetime import timedelta

from django.core import signing

from tenants.models import Merchant

from .models import Affiliate

INVITE_SALT = "affiliates.invite"
INVITE_MAX_AGE = timedelta(days=14)


def invite_token(affiliate: Affiliate) -> str:
    return signing.dumps(str(affiliate.public_id), salt=INVITE_SALT, compress=True)


def affiliate_for_invite(merchant: Merchant, token: str) -> Affiliate | None:
    """The invited affiliate of `merchant` named by a signed, unexpired token, while no account claimed it."""
    try:
        public_id = signing.loads(token, salt=INVITE_SALT, max_age=INVITE_MAX_AGE)
    except signing.BadSignature:
        return None
    return Affiliate.objects.for_merchant(merchant).filter(public_id=public_id, user=None).first()
