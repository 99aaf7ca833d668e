"""/api/v1/leads: signups the merchant's server reports (a lead binds a referral to an email, and maybe to a Stripe
customer and the merchant's own user id), and every lead, browser ones included (affiliates/services/leads.py).

Thin, as api/views.py: rows through MerchantScopedMixin, input through a nested InputSerializer, one service call.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets

from affiliates.models import Lead, Referral
from stripe_integration import attribution
from tracking.services import resolve_reference

from .base import UUID_PATTERN, MerchantScopedMixin, ReferenceNotFound, idempotent
from .filters import QueryFilters, affiliate_filter
from .referrals import STRIPE_CUSTOMER_PATTERN
from .serializers import LeadOutputSerializer

LEAD_ID_PARAMETER = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, description="The lead's id.", pattern=UUID_PATTERN
)


@extend_schema(tags=["leads"])
class LeadViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """Referred visitors who signed up: each binds its referral to an email until a Stripe customer with it appears."""

    queryset = Lead.objects.select_related("referral__affiliate")
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"

    class LeadFilters(QueryFilters):
        affiliate = affiliate_filter(source="referral__affiliate__public_id")
        email = serializers.EmailField(source="email__iexact", required=False, help_text="Exact, case-insensitive.")

    filters = LeadFilters

    class LeadCreateInput(serializers.Serializer):
        referral = serializers.CharField(
            max_length=200, help_text="The visitor's referral id (`window.Afficone.referral`) or an affiliate's code."
        )
        email = serializers.EmailField(max_length=254, help_text="The address the visitor signed up with.")
        customer = serializers.RegexField(
            STRIPE_CUSTOMER_PATTERN,
            required=False,
            help_text="The visitor's Stripe customer, if you created one: bound to the referral at once.",
        )
        external_id = serializers.CharField(
            required=False, allow_blank=True, max_length=255, help_text="Your own id for the visitor."
        )

    @extend_schema(summary="List leads", responses=LeadOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(LeadOutputSerializer)

    @extend_schema(
        summary="Report a signup",
        description="Binds the referral to the email (and to `customer` at once, when given). A Stripe customer with "
        "that email created within the program's cookie window is then bound to the referral, and its payments "
        "earn as if `client_reference_id` had been passed. 404 for an unknown referral; 409 for a customer already "
        "attributed to another affiliate or the affiliate's own address. Reporting the same signup again answers "
        "200 with the same lead.",
        request=LeadCreateInput,
        responses={201: LeadOutputSerializer, 200: LeadOutputSerializer},
    )
    @idempotent
    def create(self, request):
        data = self.validated(self.LeadCreateInput)
        referral = resolve_reference(self.merchant, data["referral"], source=Referral.Source.LEAD)
        if referral is None:
            raise ReferenceNotFound("No referral id or affiliate code of yours is this.", field="referral")
        lead, created = attribution.record_server_lead(
            self.merchant,
            referral,
            email=data["email"],
            customer=data.get("customer", ""),
            external_id=data.get("external_id", ""),
        )
        return self.output(
            LeadOutputSerializer, self.get_queryset().get(pk=lead.pk), status_code=201 if created else 200
        )

    @extend_schema(summary="Retrieve a lead", parameters=[LEAD_ID_PARAMETER], responses=LeadOutputSerializer)
    def retrieve(self, request, id=None):
        return self.output(LeadOutputSerializer, self.get_object())
