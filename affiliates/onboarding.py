"""A new merchant: the tenant and its owner (tenants.services) with its default program, in one transaction.

It needs both apps, so it sits above them; signup, the `createmerchant` command and the seeds call it.
"""

from django.db import transaction

from tenants.models import Merchant, User
from tenants.services import create_merchant_with_owner

from .services import create_default_program


@transaction.atomic
def create_merchant(
    *, name: str, owner_email: str, password: str | None = None, stripe_account_id: str | None = None
) -> tuple[Merchant, User]:
    """Creates a merchant, its owner (a new or existing user) and its default program."""
    merchant, owner = create_merchant_with_owner(
        name=name, owner_email=owner_email, password=password, stripe_account_id=stripe_account_id
    )
    create_default_program(merchant)
    return merchant, owner
