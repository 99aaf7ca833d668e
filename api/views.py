"""The merchant REST API (/api/v1/): affiliates, referrals, commissions, payouts, programs, conversions.

Thin views: every row comes through MerchantScopedMixin (the API key's
merchant), input is validated by a nested InputSerializer, one service in
affiliates.services (or api.conversions) does the write, and an
output serializer from api/serializers.py answers. Errors are raised
and shaped by api.base.exception_handler.
"""

from django.db import transaction
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from affiliates import services
from affiliates.models import (
    CODE_PATTERN,
    REFERRAL_ID_PATTERN,
    Affiliate,
    Commission,
    Payout,
    Program,
    Referral,
)
from affiliates.queries import code_holder
from stripe_integration import attribution

from . import conversions as conversion_services
from .base import UUID_PATTERN, MerchantScopedMixin, PublicIdField, idempotent
from .filters import QueryFilters, affiliate_filter
from .serializers import (
    AffiliateOutputSerializer,
    CommissionOutputSerializer,
    CommissionOverrideField,
    ConversionOutputSerializer,
    PayoutOutputSerializer,
    PromotionCodesField,
)

CURRENCY_PATTERN = r"^[a-zA-Z]{3}$"
SALE_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,200}$"
MAX_AMOUNT = 10**12  # minor units; far above any real payment, well inside a bigint


def _uuid_path(description: str) -> OpenApiParameter:
    return OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description=description)


def program_filter(help_text: str) -> serializers.UUIDField:
    return serializers.UUIDField(source="program__public_id", required=False, help_text=help_text)


# --- affiliates ---------------------------------------------------------------------------------------------------


@extend_schema(tags=["affiliates"])
@extend_schema_view(
    retrieve=extend_schema(summary="Retrieve an affiliate", parameters=[_uuid_path("The affiliate's id.")]),
)
class AffiliateViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """The merchant's affiliates: the people who share links and earn commissions."""

    # Writes look promotion codes or customers up in the merchant's Stripe account (api/schema.py documents 502).
    asks_stripe = True

    queryset = Affiliate.objects.select_related("program", "merchant", "parent").prefetch_related("promotion_codes")
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    class AffiliateFilters(QueryFilters):
        status = serializers.ChoiceField(choices=Affiliate.Status.choices, required=False)
        email = serializers.EmailField(
            source="email__iexact", required=False, help_text="Exact match, case-insensitive."
        )
        code = serializers.CharField(
            source="code__iexact", required=False, max_length=64, help_text="Exact match, case-insensitive."
        )
        program = program_filter("The program the affiliates are in.")

    filters = AffiliateFilters

    class AffiliateCreateInput(serializers.Serializer):
        email = serializers.EmailField()
        name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
        code = serializers.RegexField(
            CODE_PATTERN,
            required=False,
            help_text="1 to 64 letters, digits, `-` or `_`; suggested from the name if left out.",
        )
        program = PublicIdField(
            queryset=Program.objects.all(),
            pattern=UUID_PATTERN,
            required=False,
            help_text="Default: the default program.",
        )
        promotion_codes = PromotionCodesField(
            required=False, help_text="Stripe promotion codes to assign, looked up in your Stripe account."
        )

        def validate_email(self, email: str) -> str:
            merchant = self.context["view"].merchant
            if Affiliate.objects.for_merchant(merchant).filter(email__iexact=email).exists():
                raise serializers.ValidationError(f"{email} is already an affiliate.", code="unique")
            return email

        def validate_code(self, code: str) -> str:
            merchant = self.context["view"].merchant
            if code_holder(merchant.pk, code) is not None:
                raise serializers.ValidationError(f"The code {code!r} is already taken.", code="unique")
            return code

    class AffiliateUpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        code = serializers.RegexField(CODE_PATTERN, required=False, help_text="Links with the old code stop working.")
        status = serializers.ChoiceField(choices=Affiliate.Status.choices, required=False)
        commission_override = CommissionOverrideField(
            required=False, allow_null=True, help_text="The affiliate's own rule; null goes back to the program's."
        )
        program = PublicIdField(
            queryset=Program.objects.all(),
            pattern=UUID_PATTERN,
            required=False,
            help_text="Moves the affiliate to this program: later payments earn by its rules; commissions already "
            "recorded keep theirs.",
        )
        promotion_codes = PromotionCodesField(
            required=False, help_text="The affiliate's promotion codes from now on; codes left out are unassigned."
        )
        parent = PublicIdField(
            queryset=Affiliate.objects.all(),
            pattern=UUID_PATTERN,
            required=False,
            allow_null=True,
            help_text="The affiliate it joined through (null: none); its later commissions give that parent its "
            "share where the program is two-tier. Never itself, nor its own sub-affiliate (409).",
        )

    @extend_schema(summary="List affiliates", responses=AffiliateOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(AffiliateOutputSerializer)

    @extend_schema(responses=AffiliateOutputSerializer)
    def retrieve(self, request, id=None):
        return self.output(AffiliateOutputSerializer, self.get_object())

    @extend_schema(
        summary="Create an affiliate",
        description="Affiliates the merchant creates start approved. The answer holds their code and referral link. "
        "`promotion_codes` are looked up in your Stripe account: 400 for one it does not have, 409 for one another "
        "affiliate holds (nothing is created then).",
        request=AffiliateCreateInput,
        responses={201: AffiliateOutputSerializer},
    )
    @idempotent
    def create(self, request):
        data = self.validated(self.AffiliateCreateInput)
        with transaction.atomic():
            affiliate = services.create_affiliate(
                self.merchant,
                email=data["email"],
                name=data["name"],
                code=data.get("code"),
                program=data.get("program"),
            )
            if data.get("promotion_codes"):
                attribution.set_promotion_codes(affiliate, data["promotion_codes"])
        return self.output(AffiliateOutputSerializer, self.get_queryset().get(pk=affiliate.pk), status_code=201)

    @extend_schema(
        summary="Update an affiliate",
        description="Change the name, the code, the commission override, the program, the parent, the status "
        "(approve, reject, suspend; a suspended affiliate earns nothing) or the promotion codes "
        "(400 for a code your Stripe account does not have, 409 for one another affiliate holds).",
        parameters=[_uuid_path("The affiliate's id.")],
        request=AffiliateUpdateInput,
        responses=AffiliateOutputSerializer,
    )
    def partial_update(self, request, id=None):
        affiliate = self.get_object()
        data = self.validated(self.AffiliateUpdateInput)
        with transaction.atomic():
            if data.keys() & {"name", "code", "commission_override"}:
                current = CommissionOverrideField().to_representation(affiliate)
                override = data.get("commission_override", current) or {}
                affiliate = services.update_affiliate(
                    affiliate,
                    name=data.get("name", affiliate.name),
                    code=data.get("code", affiliate.code),
                    commission_type_override=override.get("type", ""),
                    commission_bps_override=override.get("bps"),
                    commission_amount_override=override.get("amount"),
                )
            if "program" in data:
                affiliate = services.move_affiliate(affiliate, data["program"])
            if "status" in data and data["status"] != affiliate.status:
                affiliate = services.change_affiliate_status(affiliate, status=data["status"])
            if "promotion_codes" in data:
                attribution.set_promotion_codes(affiliate, data["promotion_codes"])
            if "parent" in data:
                affiliate = services.set_parent(affiliate, data["parent"])
        return self.output(AffiliateOutputSerializer, self.get_queryset().get(pk=affiliate.pk))


# --- commissions --------------------------------------------------------------------------------------------------


@extend_schema(tags=["commissions"])
class CommissionViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """What affiliates earned, one per payment; approve or void them."""

    queryset = Commission.objects.select_related("affiliate", "referral", "payout", "program")
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    class CommissionFilters(QueryFilters):
        affiliate = affiliate_filter()
        program = program_filter("The program the commissions were earned under.")
        status = serializers.ChoiceField(choices=Commission.Status.choices, required=False)
        created_gte = serializers.DateTimeField(
            source="created_at__gte", required=False, help_text="Created at or after (ISO 8601)."
        )
        created_lte = serializers.DateTimeField(
            source="created_at__lte", required=False, help_text="Created at or before (ISO 8601)."
        )

    filters = CommissionFilters

    class CommissionVoidInput(serializers.Serializer):
        reason = serializers.CharField(
            max_length=255, help_text="Why the commission is voided; shown to the affiliate."
        )

    @extend_schema(summary="List commissions", responses=CommissionOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(CommissionOutputSerializer)

    @extend_schema(
        summary="Retrieve a commission",
        parameters=[_uuid_path("The commission's id.")],
        responses=CommissionOutputSerializer,
    )
    def retrieve(self, request, id=None):
        return self.output(CommissionOutputSerializer, self.get_object())

    @extend_schema(
        summary="Approve a commission",
        description="Pending → approved before the hold period ends. "
        "Refused (409) for any other status or while a dispute is open.",
        parameters=[_uuid_path("The commission's id.")],
        request=None,
        responses=CommissionOutputSerializer,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def approve(self, request, id=None):
        return self.output(CommissionOutputSerializer, services.approve_commission(self.get_object()))

    @extend_schema(
        summary="Void a commission",
        description="A pending or approved commission that is not in a payout. Refused (409) otherwise.",
        parameters=[_uuid_path("The commission's id.")],
        request=CommissionVoidInput,
        responses=CommissionOutputSerializer,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def void(self, request, id=None):
        commission = self.get_object()
        data = self.validated(self.CommissionVoidInput)
        return self.output(CommissionOutputSerializer, services.void_commission(commission, reason=data["reason"]))


# --- payouts ------------------------------------------------------------------------------------------------------


class PayoutBatchOutputSerializer(serializers.Serializer):
    batch = serializers.UUIDField(allow_null=True, help_text="The new batch, or null when nobody is due a payout.")
    payouts = PayoutOutputSerializer(many=True)


@extend_schema(tags=["payouts"])
class PayoutViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """Money owed to affiliates, grouped in batches; mark them paid once sent."""

    queryset = Payout.objects.select_related("affiliate", "batch").prefetch_related(
        Prefetch("commissions", queryset=Commission.objects.only("public_id", "payout_id").order_by("pk"))
    )
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    class PayoutFilters(QueryFilters):
        affiliate = affiliate_filter()
        status = serializers.ChoiceField(choices=Payout.Status.choices, required=False)

    filters = PayoutFilters

    class PayoutMarkPaidInput(serializers.Serializer):
        reference = serializers.CharField(
            max_length=255, required=False, default="", allow_blank=True, help_text="The transfer's reference."
        )

    @extend_schema(summary="List payouts", responses=PayoutOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(PayoutOutputSerializer)

    @extend_schema(
        summary="Retrieve a payout", parameters=[_uuid_path("The payout's id.")], responses=PayoutOutputSerializer
    )
    def retrieve(self, request, id=None):
        return self.output(PayoutOutputSerializer, self.get_object())

    @extend_schema(
        summary="Create a payout batch",
        description="One payout per affiliate and currency whose approved, unpaid commissions reach the program's "
        "minimum payout. 201 with the batch; 200 with `batch: null` when nobody is due.",
        request=None,
        responses={201: PayoutBatchOutputSerializer, 200: PayoutBatchOutputSerializer},
    )
    @idempotent
    def create(self, request):
        batch = services.create_payout_batch(self.merchant)
        if batch is None:
            return Response({"batch": None, "payouts": []}, status=status.HTTP_200_OK)
        payouts = self.get_queryset().filter(batch=batch).order_by("pk")
        body = {"batch": batch.public_id, "payouts": payouts}
        return self.output(PayoutBatchOutputSerializer, body, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Mark a payout paid",
        description="Its commissions become paid and the affiliate is emailed. Refused (409) if already paid.",
        parameters=[_uuid_path("The payout's id.")],
        request=PayoutMarkPaidInput,
        responses=PayoutOutputSerializer,
    )
    @action(detail=True, methods=["post"], url_path="mark-paid")
    @idempotent
    def mark_paid(self, request, id=None):
        payout = self.get_object()
        data = self.validated(self.PayoutMarkPaidInput)
        services.mark_payout_paid(payout, reference=data["reference"])
        return self.output(PayoutOutputSerializer, self.get_object())


# --- programs -----------------------------------------------------------------------------------------------------


# --- conversions --------------------------------------------------------------------------------------------------


SALE_ID_PARAMETER = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, description="Your id for the sale.", pattern=SALE_ID_PATTERN
)


@extend_schema(tags=["conversions"])
class ConversionViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """Sales made outside Stripe (another provider, a custom checkout), and the commissions they earn."""

    queryset = Commission.objects.select_related("affiliate", "referral", "payout", "program")
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"

    class ConversionInput(serializers.Serializer):
        id = serializers.RegexField(
            SALE_ID_PATTERN,
            max_length=200,
            help_text="Your own id for the sale (1 to 200 letters, digits, `_ . : -`). A sale is recorded once.",
        )
        referral = serializers.RegexField(
            REFERRAL_ID_PATTERN,
            max_length=200,
            help_text="The referral id (`window.Afficone.referral`, the `afficone_ref` cookie) or an affiliate's code.",
        )
        amount = serializers.IntegerField(
            min_value=1, max_value=MAX_AMOUNT, help_text="The sale excluding tax, in the currency's minor unit."
        )
        currency = serializers.RegexField(CURRENCY_PATTERN, help_text="ISO 4217, e.g. `usd`.")
        customer_email = serializers.EmailField(
            required=False, default="", allow_blank=True, help_text="Flags self-referrals (the affiliate buying)."
        )

        def validate_referral(self, reference: str) -> str:
            merchant = self.context["view"].merchant
            known = Referral.objects.for_merchant(merchant).filter(rid=reference).exists() or (
                code_holder(merchant.pk, reference) is not None
            )
            if not known:
                raise serializers.ValidationError(
                    "No referral id or affiliate code matches this.", code="does_not_exist"
                )
            return reference

    class ConversionRefundInput(serializers.Serializer):
        amount = serializers.IntegerField(
            min_value=1,
            max_value=MAX_AMOUNT,
            required=False,
            help_text="How much more of the sale is refunded, in minor units; leave out to refund the rest.",
        )

    def scope_queryset(self, queryset):
        return queryset.filter(source_type=Commission.SourceType.CONVERSION)

    def get_object(self):
        commission = get_object_or_404(
            self.get_queryset(), source_id=conversion_services.source_id_for(self.kwargs[self.lookup_url_kwarg])
        )
        self.check_object_permissions(self.request, commission)
        return commission

    @extend_schema(summary="List conversions", responses=ConversionOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(ConversionOutputSerializer)

    @extend_schema(
        summary="Retrieve a conversion", parameters=[SALE_ID_PARAMETER], responses=ConversionOutputSerializer
    )
    def retrieve(self, request, id=None):
        return self.output(ConversionOutputSerializer, self.get_object())

    @extend_schema(
        summary="Record a conversion",
        description="Records a sale made outside Stripe and the commission it earns under the program's rules "
        "(or the affiliate's override). Idempotent by your sale id: 201 the first time, 200 with the same "
        "conversion after; 409 if that id was recorded with a different amount or referral, or if the sale "
        "earns nothing (affiliate not approved, outside the recurring limit).",
        request=ConversionInput,
        responses={201: ConversionOutputSerializer, 200: ConversionOutputSerializer},
    )
    @idempotent
    def create(self, request):
        data = self.validated(self.ConversionInput)
        commission, created = conversion_services.record_conversion(
            self.merchant,
            sale=data["id"],
            reference=data["referral"],
            amount=data["amount"],
            currency=data["currency"],
            customer_email=data["customer_email"],
        )
        commission = self.get_queryset().get(pk=commission.pk)
        return self.output(
            ConversionOutputSerializer,
            commission,
            status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Refund a conversion",
        description="Refunds part of the sale, or the rest of it; refunds add up. The commission is reduced in "
        "proportion, and voided when the sale is refunded in full (unless already paid out).",
        parameters=[SALE_ID_PARAMETER],
        request=ConversionRefundInput,
        responses=ConversionOutputSerializer,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def refund(self, request, id=None):
        commission = self.get_object()
        data = self.validated(self.ConversionRefundInput)
        conversion_services.refund_conversion(commission, amount=data.get("amount"))
        return self.output(ConversionOutputSerializer, self.get_object())
