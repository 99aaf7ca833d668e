"""MerchantScopedMixin cannot be bypassed: overriding get_queryset() or ordering the bases wrongly fails at import."""

import pytest
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory, force_authenticate

from affiliates.models import Affiliate
from api.auth import ApiClient
from api.base import MerchantScopedMixin
from tenants.services import create_api_key
from tests.factories import AffiliateFactory


def test_a_view_that_overrides_get_queryset_is_refused():
    with pytest.raises(TypeError, match="scope_queryset"):

        class Leaky(MerchantScopedMixin, viewsets.GenericViewSet):
            queryset = Affiliate.objects.all()

            def get_queryset(self):
                return Affiliate.objects.all()


def test_a_view_that_lists_the_mixin_after_drf_is_refused():
    with pytest.raises(TypeError, match="before the DRF view class"):

        class Misordered(viewsets.GenericViewSet, MerchantScopedMixin):
            queryset = Affiliate.objects.all()


def test_scope_queryset_narrows_and_never_widens(merchant, other_merchant, affiliate):
    AffiliateFactory(merchant=other_merchant, program=other_merchant.programs.get())
    AffiliateFactory(merchant=merchant, program=affiliate.program, status="pending")

    class Approved(MerchantScopedMixin, viewsets.GenericViewSet):
        queryset = Affiliate.objects.all()

        def scope_queryset(self, queryset):
            return queryset.filter(status="approved")

    def view_for(key):
        request = APIRequestFactory().get("/")
        if key is not None:
            force_authenticate(request, user=ApiClient(key), token=key)
        view = Approved()
        view.request = Request(request)
        return view

    key, _ = create_api_key(merchant, name="t")
    assert list(view_for(key).get_queryset()) == [affiliate]
    assert list(view_for(None).get_queryset()) == []  # no key, no rows (never a browser session's merchant)
