"""Tenant isolation: another merchant's ids answer 404 and change nothing; members cannot manage."""

import pytest
from django.urls import URLPattern, reverse

from tenants import urls as tenant_urls
from tenants.models import ApiKey, Invitation, Membership, Merchant
from tenants.services import create_api_key
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def snapshot():
    return {
        "memberships": sorted(Membership.objects.values_list("pk", "merchant_id", "user_id", "role")),
        "invitations": sorted(Invitation.objects.values_list("pk", "accepted_at", "revoked_at")),
        "keys": sorted(ApiKey.objects.values_list("pk", "revoked_at")),
        "proxy_secrets": sorted(Merchant.objects.values_list("pk", "proxy_secret")),
    }


@pytest.fixture
def theirs(other_merchant, other_owner):
    """Rows of the other merchant that our owner will try to reach."""
    invitation = Invitation.objects.create(merchant=other_merchant, email="x@example.com", role="member")
    member = MembershipFactory(merchant=other_merchant, role=Membership.Role.MEMBER)
    key, _ = create_api_key(other_merchant, name="Theirs")
    return {"invitation": invitation.public_id, "member": member.public_id, "key": key.public_id}


# Every tenants URL that takes an id, with how to try it.
ATTEMPTS = {
    "revoke_invitation": ("post", "invitation", {}),
    "change_role": ("post", "member", {"role": "owner"}),
    "remove_member": ("post", "member", {}),
    "api_key_created": ("get", "key", None),
    "revoke_api_key": ("post", "key", {}),
}


def test_every_tenants_url_with_an_id_is_covered_here():
    with_ids = {p.name for p in tenant_urls.urlpatterns if isinstance(p, URLPattern) and "<uuid:" in str(p.pattern)}
    assert with_ids == set(ATTEMPTS)


@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_other_merchant_gets_404_and_nothing_changes(merchant_client, theirs, name):
    method, kind, data = ATTEMPTS[name]
    before = snapshot()
    response = getattr(merchant_client, method)(reverse(f"tenants:{name}", args=[theirs[kind]]), data)
    assert response.status_code == 404
    assert snapshot() == before


def test_switching_to_another_merchant_answers_404(merchant_client, other_merchant):
    response = merchant_client.post(reverse("tenants:switch"), {"merchant": str(other_merchant.public_id)})
    assert response.status_code == 404
    assert "merchant_id" not in merchant_client.session


MANAGE_PAGES = [
    ("get", "provider", None, {}),
    ("post", "provider", None, {"provider": "stripe"}),
    ("get", "team", None, {}),
    ("post", "team", None, {"email": "sneaky@example.com", "role": "owner"}),
    ("post", "revoke_invitation", "invitation", {}),
    ("post", "change_role", "me", {"role": "owner"}),
    ("post", "remove_member", "owner", {}),
    ("get", "api_keys", None, {}),
    ("post", "api_keys", None, {"name": "mine"}),
    ("get", "api_key_created", "key", {}),
    ("post", "revoke_api_key", "key", {}),
    ("get", "branding", None, {}),
    ("post", "branding", None, {"name": "Hijacked", "brand_color": "#000000"}),
    ("post", "rotate_proxy_secret", None, {}),
]


@pytest.mark.parametrize("method,name,kind,data", MANAGE_PAGES, ids=[f"{m}-{n}" for m, n, _, _ in MANAGE_PAGES])
def test_members_cannot_manage(client, merchant, owner, method, name, kind, data):
    me = MembershipFactory(merchant=merchant, role=Membership.Role.MEMBER)
    ids = {
        "invitation": Invitation.objects.create(merchant=merchant, email="y@example.com").public_id,
        "me": me.public_id,
        "owner": Membership.objects.get(merchant=merchant, user=owner).public_id,
        "key": create_api_key(merchant, name="Ours")[0].public_id,
    }
    client.force_login(me.user)
    before = snapshot()
    url = reverse(f"tenants:{name}", args=[ids[kind]] if kind else [])
    response = getattr(client, method)(url, data)
    assert response.status_code == 403
    assert snapshot() == before
    merchant.refresh_from_db()
    assert merchant.name == "Acme Analytics"
