"""/api/v1/programs: the merchant's programs (campaigns), their settings and their rules.

Thin, as api/views.py: input checked by the serializers (a bad rule answers 400 naming its path, e.g.
`rules[1].commission.bps`), the writes in affiliates.services (programs.py), the answer by ProgramOutputSerializer.
"""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets

from affiliates import services
from affiliates.models import PROGRAM_SLUG_PATTERN, CommissionType, Program
from affiliates.tiers import MAX_PERIOD_DAYS

from .base import MerchantScopedMixin, PublicIdField, idempotent
from .filters import QueryFilters
from .serializers import (
    BONUSES_HELP,
    NEXT_TIER_HELP,
    RULES_HELP,
    BonusesField,
    ProgramOutputSerializer,
    RulesField,
    WhenField,
)
from .views import CURRENCY_PATTERN, MAX_AMOUNT

ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The program's id.")


class NextTierInput(serializers.Serializer):
    program = PublicIdField(queryset=Program.objects.all(), help_text="The program affiliates move up to.")
    when = WhenField(
        help_text='`{"affiliate_customers_gte": N}` or `{"affiliate_revenue_gte": {"amount": N, "currency": "usd"}}`.'
    )
    period_days = serializers.IntegerField(
        min_value=1,
        max_value=MAX_PERIOD_DAYS,
        allow_null=True,
        required=False,
        default=None,
        help_text="Count the results of the last N days; null (the default): all time.",
    )
    mode = serializers.ChoiceField(choices=Program.TierMode.choices, required=False, default="automatic")


def _program_settings():
    """The settings a program's create and update take (all optional on update)."""
    return {
        "slug": serializers.RegexField(
            PROGRAM_SLUG_PATTERN,
            max_length=60,
            required=False,
            help_text="Its signup page's address: `/p/<merchant>/join/<slug>/`; made from the name if left out.",
        ),
        "status": serializers.ChoiceField(
            choices=Program.Status.choices,
            required=False,
            help_text="`archived`: no signup page, no new affiliates (refused for the default program and while "
            "affiliates are still in it); `active` restores it.",
        ),
        "is_default": serializers.BooleanField(
            required=False, help_text="true makes it the default program (the previous default stops being it)."
        ),
        "commission_type": serializers.ChoiceField(choices=CommissionType.choices, required=False),
        "commission_bps": serializers.IntegerField(min_value=0, max_value=10000, required=False),
        "commission_amount": serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT, required=False),
        "commission_currency": serializers.RegexField(CURRENCY_PATTERN, required=False),
        "recurring_months": serializers.IntegerField(min_value=0, max_value=1200, required=False, allow_null=True),
        "cookie_days": serializers.IntegerField(min_value=1, max_value=730, required=False),
        "hold_days": serializers.IntegerField(min_value=0, max_value=3650, required=False),
        "min_payout_amount": serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT, required=False),
        "attribution": serializers.ChoiceField(choices=Program.Attribution.choices, required=False),
        "promotion_codes_first": serializers.BooleanField(required=False),
        "two_tier": serializers.BooleanField(
            required=False, help_text="true: parents earn `two_tier_bps` of their sub-affiliates' commissions."
        ),
        "two_tier_bps": serializers.IntegerField(
            min_value=0, max_value=10000, required=False, help_text="Basis points of the sub-affiliate's commission."
        ),
        "auto_approve": serializers.BooleanField(required=False),
        "signup_open": serializers.BooleanField(required=False),
        "rules": RulesField(required=False, help_text=RULES_HELP),
        "next_tier": NextTierInput(required=False, allow_null=True, help_text=NEXT_TIER_HELP),
        "bonuses": BonusesField(required=False, help_text=BONUSES_HELP),
    }


def _name_field(*, required: bool) -> serializers.RegexField:
    # Not blank once trimmed and no NUL (no database column takes one): the schema says so (a pattern), so a name of
    # spaces is a schema error too.
    return serializers.RegexField(
        r"^[^\x00]*[^\s\x00][^\x00]*$",
        max_length=200,
        required=required,
        error_messages={"invalid": "Give the program a name (no NUL characters)."},
    )


class ProgramSettingsInput(serializers.Serializer):
    def get_fields(self):
        return {"name": _name_field(required=False), **_program_settings()}

    def validate_commission_currency(self, value: str) -> str:
        return value.lower()


@extend_schema(tags=["programs"])
class ProgramViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    """Affiliate programs (campaigns): each with its commission, rules, cookie days, hold and signup page."""

    queryset = Program.objects.select_related("merchant", "next_tier")
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    class ProgramFilters(QueryFilters):
        status = serializers.ChoiceField(choices=Program.Status.choices, required=False)

    filters = ProgramFilters

    class ProgramUpdateInput(ProgramSettingsInput):
        pass

    class ProgramCreateInput(ProgramSettingsInput):
        def get_fields(self):
            return {"name": _name_field(required=True), **_program_settings()}

    @extend_schema(summary="List programs", responses=ProgramOutputSerializer(many=True))
    def list(self, request):
        return self.list_response(ProgramOutputSerializer)

    @extend_schema(summary="Retrieve a program", parameters=[ID_PARAMETER], responses=ProgramOutputSerializer)
    def retrieve(self, request, id=None):
        return self.output(ProgramOutputSerializer, self.get_object())

    @extend_schema(
        summary="Create a program",
        description="What it leaves out takes the defaults (20%, 12 months, 60-day cookie, 30-day hold).",
        request=ProgramCreateInput,
        responses={201: ProgramOutputSerializer},
    )
    @idempotent
    def create(self, request):
        data = dict(self.validated(self.ProgramCreateInput))
        status_ = data.pop("status", Program.Status.ACTIVE)
        with transaction.atomic():
            program = services.create_program(self.merchant, **data)
            if status_ != program.status:
                program = services.set_program_status(program, status_)
        return self.output(ProgramOutputSerializer, self.get_queryset().get(pk=program.pk), status_code=201)

    @extend_schema(
        summary="Update a program",
        description="Changes apply to payments from now on; commissions already earned keep their amount and rule. "
        "`rules` replaces the whole list.",
        parameters=[ID_PARAMETER],
        request=ProgramUpdateInput,
        responses=ProgramOutputSerializer,
    )
    def partial_update(self, request, id=None):
        program = self.get_object()
        data = dict(self.validated(self.ProgramUpdateInput))
        status_, make_default = data.pop("status", None), data.pop("is_default", None)
        with transaction.atomic():
            if make_default is False and program.is_default:
                raise services.AffiliateError(
                    "A merchant always has a default program: make another program the default instead.",
                    field="is_default",
                )
            if data:
                program = services.update_program(program, **data)
            if status_ == Program.Status.ACTIVE:
                program = services.set_program_status(program, status_)
            if make_default:
                program = services.set_default_program(program)
            if status_ == Program.Status.ARCHIVED:
                program = services.set_program_status(program, status_)
        return self.output(ProgramOutputSerializer, self.get_queryset().get(pk=program.pk))
