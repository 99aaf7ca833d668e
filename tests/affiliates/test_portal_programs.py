"""Each program's own signup page (/p/<slug>/join/<program>/) and what the portal tells an affiliate of their
program: its name and what each product earns."""

import pytest
from django.urls import reverse

from affiliates.models import Affiliate
from affiliates.services import create_program, default_program, move_affiliate, set_program_status, update_program
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RULES = [
    {"match": {"product": "prod_pro"}, "commission": {"type": "percent", "bps": 3000}, "label": "Pro plan"},
    {"match": {"product": "prod_gift"}, "exclude": True, "label": "Gift cards"},
    {"match": {"affiliate_customers_gte": 10}, "commission": {"type": "percent", "bps": 2500}},
]
SIGNUP = {"name": "Vic", "email": "vic@example.net", "password": "a-long-secret-phrase"}


def join(merchant, program=None):
    if program is None:
        return reverse("affiliates:portal_signup", kwargs={"slug": merchant.slug})
    return reverse("affiliates:portal_program_signup", kwargs={"slug": merchant.slug, "program": program.slug})


def test_a_programs_signup_page_joins_that_program(client, merchant):
    vip = create_program(merchant, name="VIP partners", auto_approve=True, cookie_days=90, rules=RULES)
    page = client.get(join(merchant, vip)).content.decode()
    assert "VIP partners" in page and "remembered for 90 days" in page
    assert "Pro plan" in page and "30%" in page and "Gift cards" in page and "nothing" in page
    response = client.post(join(merchant, vip), SIGNUP)
    assert response.status_code == 302
    affiliate = Affiliate.objects.get(email="vic@example.net")
    assert (affiliate.program, affiliate.status) == (vip, "approved")


def test_the_plain_signup_page_still_joins_the_default_program(client, merchant):
    create_program(merchant, name="VIP", auto_approve=True)
    assert client.post(join(merchant), SIGNUP).status_code == 302
    affiliate = Affiliate.objects.get(email="vic@example.net")
    assert (affiliate.program, affiliate.status) == (default_program(merchant), "pending")


def test_unknown_archived_and_closed_programs(client, merchant, other_merchant):
    theirs = create_program(other_merchant, name="Theirs")
    assert client.get(join(merchant, theirs)).status_code == 404  # their slug names nothing here
    old = set_program_status(create_program(merchant, name="Old"), "archived")
    assert client.get(join(merchant, old)).status_code == 404
    assert client.post(join(merchant, old), SIGNUP).status_code == 404
    closed = create_program(merchant, name="Closed", signup_open=False)
    assert "Signups are closed" in client.get(join(merchant, closed)).content.decode()
    assert client.post(join(merchant, closed), SIGNUP).status_code == 403
    assert not Affiliate.objects.filter(email="vic@example.net").exists()


def test_the_portal_says_which_program_and_what_each_product_earns(client, merchant, affiliate):
    user = UserFactory(email=affiliate.email)
    Affiliate.objects.filter(pk=affiliate.pk).update(user=user)
    client.force_login(user)
    dashboard = reverse("affiliates:portal_dashboard", kwargs={"slug": merchant.slug})
    body = client.get(dashboard).content.decode()
    assert f"You are in <strong>{default_program(merchant).name}</strong>" in body
    assert "20% of each payment" in body and "What each product earns" not in body

    vip = update_program(create_program(merchant, name="VIP"), rules=RULES)
    move_affiliate(affiliate, vip)
    body = client.get(dashboard).content.decode()
    assert "You are in <strong>VIP</strong>" in body
    for text in ("Pro plan", "30%", "Gift cards", "nothing", "You have at least 10 customers", "25%", "Anything else"):
        assert text in body, text
