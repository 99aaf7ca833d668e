"""The one StripeClient factory: configured from settings, reaching the local Stripe server like the real one."""

import pytest
import stripe

from stripe_integration.client import stripe_client

from ..fake_stripe import FakeStripe
from ..stripe_events import fixture


def test_client_reads_a_connected_accounts_objects_with_the_platform_key(fake_stripe, settings):
    customer = fixture("customer") | {"id": "cus_1Reader", "email": "buyer@example.com"}
    fake_stripe.put(customer, account="acct_1Reader")
    fake_stripe.put(fixture("customer") | {"id": "cus_1Other", "email": "other@example.com"}, account="acct_1Reader")

    as_account = {"stripe_account": "acct_1Reader"}
    found = stripe_client().v1.customers.retrieve("cus_1Reader", options=as_account)
    listed = stripe_client().v1.customers.list({"email": "buyer@example.com"}, options=as_account)

    assert (found.id, found.email) == ("cus_1Reader", "buyer@example.com")
    assert [c.id for c in listed.data] == ["cus_1Reader"] and listed.has_more is False
    sent = fake_stripe.requests_to("/v1/customers/cus_1Reader")[0]
    assert sent.stripe_account == "acct_1Reader" and sent.bearer == settings.STRIPE_SECRET_KEY
    assert fake_stripe.requests_to("/v1/customers")[0].query == {"email": "buyer@example.com"}


def test_an_object_of_another_account_is_not_found(fake_stripe):
    fake_stripe.put(fixture("customer") | {"id": "cus_1Theirs"}, account="acct_1Theirs")

    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe_client().v1.customers.retrieve("cus_1Theirs", options={"stripe_account": "acct_1Mine"})

    assert (error.value.http_status, error.value.code) == (404, "resource_missing")
    assert "No such customer: 'cus_1Theirs'" in error.value.user_message


def test_client_follows_the_base_addresses_in_settings(fake_stripe, settings):
    other = FakeStripe(secret_key=settings.STRIPE_SECRET_KEY, client_id=settings.STRIPE_CLIENT_ID).start()
    try:
        other.add_account("acct_1Elsewhere", name="Elsewhere")
        settings.STRIPE_API_BASE = other.base_url

        assert stripe_client().v1.accounts.retrieve("acct_1Elsewhere").business_profile.name == "Elsewhere"
        assert len(other.requests) == 1 and fake_stripe.requests == []
    finally:
        other.stop()
