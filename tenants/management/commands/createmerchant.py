"""`python manage.py createmerchant --email E --name N [--stripe-account acct_X] [--password P]`

Creates a merchant, its owner (or reuses the user with that email), the
default program and a first API key, and prints one JSON object.
"""

import json
import re

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from affiliates.onboarding import create_merchant
from tenants.services import MerchantError, create_api_key
from tenants.users import AccountError, user_with_email, validate_new_password

STRIPE_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{1,250}$")


class Command(BaseCommand):
    help = "Creates a merchant with its owner and an API key; prints a JSON object (id, public_key, api_key, ...)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The owner's email (an existing user is reused).")
        parser.add_argument("--name", required=True, help="The company name.")
        parser.add_argument("--stripe-account", default=None, help="A connected Stripe account id, acct_...")
        parser.add_argument(
            "--password",
            default=None,
            help="The owner's password, for a new user; without it the output holds a one-time set_password_url.",
        )

    def handle(self, *args, email, name, stripe_account, password, **options):
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"--email: {email!r} is not an email address.") from None
        if not name.strip():
            raise CommandError("--name: give the company a name.")
        if stripe_account is not None and not STRIPE_ACCOUNT.match(stripe_account):
            raise CommandError(f"--stripe-account: {stripe_account!r} is not a Stripe account id (acct_...).")
        user_exists = user_with_email(email) is not None
        if password is not None and not user_exists:
            try:
                validate_new_password(password, email=email)
            except AccountError as error:
                raise CommandError(f"--password: {error}") from None
        if password is not None and user_exists:
            self.stderr.write(f"{email} already has an account: it keeps its password (--password ignored).")
        try:
            with transaction.atomic():
                merchant, owner = create_merchant(
                    name=name,
                    owner_email=email,
                    password=password if not user_exists else None,
                    stripe_account_id=stripe_account,
                )
                _, api_key = create_api_key(merchant, name="Created by createmerchant", created_by=owner)
        except MerchantError as error:
            raise CommandError(str(error)) from None
        result = {
            "id": str(merchant.public_id),
            "name": merchant.name,
            "slug": merchant.slug,
            "public_key": merchant.public_key,
            "api_key": api_key,
            "stripe_account_id": merchant.stripe_account_id,
            "owner_email": owner.email,
            "owner_created": not user_exists,
            "dashboard_url": settings.SITE_URL + reverse("tenants:login"),
            "portal_url": settings.SITE_URL + reverse("affiliates:portal_dashboard", kwargs={"slug": merchant.slug}),
            "script_tag": f'<script async src="{settings.SITE_URL}/t.js" '
            f'data-afficone="{merchant.public_key}"></script>',
        }
        if not owner.has_usable_password():
            # No password given: a one-time link (Django's reset token, valid PASSWORD_RESET_TIMEOUT) to choose one.
            result["set_password_url"] = settings.SITE_URL + reverse(
                "tenants:password_reset_confirm",
                kwargs={
                    "uidb64": urlsafe_base64_encode(force_bytes(owner.pk)),
                    "token": default_token_generator.make_token(owner),
                },
            )
        self.stdout.write(json.dumps(result, indent=2))
