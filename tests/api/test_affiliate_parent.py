"""`parent` on affiliates in the API: the affiliate one joined through (two-tier programs pay it a share), read and
set by id, never itself, its own sub-affiliate or another merchant's affiliate."""

import pytest

from affiliates.models import Affiliate
from tests.factories import AffiliateFactory

from .conftest import assert_error

pytestmark = pytest.mark.django_db


def test_the_parent_is_shown_set_and_removed(api, merchant, affiliate):
    bob = AffiliateFactory(merchant=merchant, code="bob", email="bob@example.com")
    assert api.get(f"/api/v1/affiliates/{bob.public_id}").json()["parent"] is None

    response = api.patch(f"/api/v1/affiliates/{bob.public_id}", {"parent": str(affiliate.public_id)})
    assert response.status_code == 200, response.content
    assert response.json()["parent"] == str(affiliate.public_id)
    assert Affiliate.objects.get(pk=bob.pk).parent == affiliate
    listed = {a["code"]: a["parent"] for a in api.get("/api/v1/affiliates").json()["results"]}
    assert listed == {"alice": None, "bob": str(affiliate.public_id)}

    assert api.patch(f"/api/v1/affiliates/{bob.public_id}", {"parent": None}).json()["parent"] is None
    assert Affiliate.objects.get(pk=bob.pk).parent is None


def test_a_parent_that_cannot_be_is_refused_and_nothing_changes(api, merchant, affiliate, other_merchant):
    bob = AffiliateFactory(merchant=merchant, code="bob", email="bob@example.com", parent=affiliate)
    theirs = AffiliateFactory(merchant=other_merchant, code="theirs", email="t@example.com")

    assert_error(api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"parent": str(affiliate.public_id)}), 409)
    # alice's sub-affiliate bob cannot be alice's parent too.
    assert_error(api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"parent": str(bob.public_id)}), 409)
    assert_error(api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"parent": str(theirs.public_id)}), 404)
    assert_error(api.patch(f"/api/v1/affiliates/{affiliate.public_id}", {"parent": "not-an-id"}), 400)
    assert Affiliate.objects.get(pk=affiliate.pk).parent is None
    assert Affiliate.objects.get(pk=bob.pk).parent == affiliate
