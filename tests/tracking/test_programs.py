"""The click endpoint answers with the affiliate's own program: its cookie days and its attribution, whichever
program that is, and a moved affiliate's links follow the new program once the link cache expires."""

import pytest
from django.core.cache import cache

from affiliates.models import Referral
from affiliates.services import create_program, move_affiliate
from tests.factories import AffiliateFactory
from tracking import services
from tracking.models import Click

from .conftest import click_body

pytestmark = pytest.mark.django_db


def test_each_affiliate_clicks_with_their_programs_cookie_days(direct, merchant, affiliate, post_click):
    week = create_program(merchant, name="One week", cookie_days=7, attribution="first_click")
    AffiliateFactory(merchant=merchant, program=week, code="weekly")
    default = post_click(click_body(merchant, code="alice")).json()
    weekly = post_click(click_body(merchant, code="weekly"), ip="198.51.100.9").json()
    assert (default["days"], default["attribution"]) == (60, "last_click")
    assert (weekly["days"], weekly["attribution"]) == (7, "first_click")
    assert Referral.objects.get(rid=weekly["referral"]).affiliate.program == week
    assert Click.objects.count() == 2


def test_a_moved_affiliates_links_follow_the_new_program(direct, merchant, affiliate, post_click):
    assert post_click(click_body(merchant)).json()["days"] == 60
    move_affiliate(affiliate, create_program(merchant, name="Short", cookie_days=3))
    cache.delete(services._link_cache_key(merchant.public_key, "alice"))  # what LINK_CACHE_SECONDS does
    assert post_click(click_body(merchant)).json()["days"] == 3
