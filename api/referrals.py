"""/api/v1/referrals: visitors sent by affiliates and the Stripe customers they became, and customers the merchant
attributes by hand (POST: a binding whose past payments are credited from Stripe, stripe_integration/attribution.py).

Thin, as api/views.py: rows through MerchantScopedMixin, input through a nested InputSerializer, one service call.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets

from affiliates.models import REFERRAL_ID_PATTERN, Affiliate, Referral
from stripe_integration import attribution

from .base import UUID_PATTERN, MerchantScopedMixin, PublicIdField, idempotent
from .filters import QueryFilters, affiliate_filter
from .serializers import ReferralOutputSerializer

STRIPE_CUSTOMER_PATTERN = r"^cus_[A-Za-z0-9]{1,251}$"

REFERRAL_ID_PARAMETER = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, description="The referral id.", pattern=REFERRAL_ID_PATTERN
)


@extend_schema(tags=["referrals"])
class ReferralViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """Visitors sent by affiliates, and the Stripe customers they became."""

    # Writes look promotion codes or customers up in the merchant's Stripe account (api/schema.py documents 502).
    asks_stripe = True

    queryset = Referral.objects.select_related("affiliate", "backfill")
    lookup_field = "rid"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"

    class ReferralFilters(QueryFilters):
        affiliate = affiliate_filter()
        customer = serializers.CharField(
            source="stripe_customer_id", required=False, max_length=255, help_text="A Stripe customer id."
        )
        customer_email = serializers.EmailField(
            source="customer_email__iexact", required=False, help_text="Exact match, case-insensitive."
        )

    filters = ReferralFilters

    class ReferralCreateInput(serializers.Serializer):
        affiliate = PublicIdField(
            queryset=Affiliate.objects.all(), lookup="public_id", pattern=UUID_PATTERN, help_text="The affiliate's id."
        )
        customer = serializers.RegexField(
            STRIPE_CUSTOMER_PATTERN,
            help_text="A customer of your Stripe account (`cus_...`), bound to no referral yet.",
        )

    @extend_schema(summary="List referrals", responses=ReferralOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(ReferralOutputSerializer)

    @extend_schema(
        summary="Attribute a customer",
        description="Binds an existing Stripe customer to an affiliate (source `api`) and credits the customer's past "
        "payments that the program's rules still cover, read from Stripe in the background (`backfill`). "
        "400 for a customer your Stripe account does not have; 409 for a customer already attributed.",
        request=ReferralCreateInput,
        responses={201: ReferralOutputSerializer},
    )
    @idempotent
    def create(self, request):
        data = self.validated(self.ReferralCreateInput)
        referral = attribution.attribute_customer(
            self.merchant, affiliate=data["affiliate"], customer_id=data["customer"], source=Referral.Source.API
        )
        return self.output(ReferralOutputSerializer, self.get_queryset().get(pk=referral.pk), status_code=201)

    @extend_schema(
        summary="Retrieve a referral", parameters=[REFERRAL_ID_PARAMETER], responses=ReferralOutputSerializer
    )
    def retrieve(self, request, id=None):
        return self.output(ReferralOutputSerializer, self.get_object())
