"""Output serializers of the REST API: what every resource answers (its schema is at /api/v1/schema/).

Every id is a public one: the `public_id` UUID of affiliates, programs, commissions and payouts, a referral's
`rid`. Amounts are integers in the
currency's minor unit with a lower-case ISO currency. Input serializers live
next to their views in api/views.py.
"""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from affiliates.links import referral_link
from affiliates.models import (
    Affiliate,
    Commission,
    CommissionType,
    Lead,
    Payout,
    Program,
    Referral,
    RuleSource,
    RuleType,
)
from affiliates.rules import MAX_AMOUNT, MAX_COUNT, MAX_RULES, RuleError, validate_rules
from affiliates.tiers import MAX_BONUSES, MAX_PERIOD_DAYS, validate_bonuses, validate_when
from stripe_integration.models import CustomerBackfill

from .base import json_type_errors
from .conversions import sale_id


def affiliate_link(affiliate: Affiliate) -> str:
    """The merchant's site with ?ref=CODE; this app's own address until the merchant has set a website."""
    return referral_link(affiliate.merchant.website or settings.SITE_URL, affiliate.code)


class PercentOverrideSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[(CommissionType.PERCENT.value, CommissionType.PERCENT.label)])
    bps = serializers.IntegerField(min_value=0, max_value=10000, help_text="Basis points of each payment (2500 = 25%).")


class FixedOverrideSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[(CommissionType.FIXED.value, CommissionType.FIXED.label)])
    amount = serializers.IntegerField(
        min_value=0, max_value=10**12, help_text="Per payment, in the minor unit of the program's commission currency."
    )


OVERRIDE_SCHEMA = PolymorphicProxySerializer(
    component_name="CommissionOverride",
    serializers=[PercentOverrideSerializer, FixedOverrideSerializer],
    resource_type_field_name="type",
)


@extend_schema_field(OVERRIDE_SCHEMA)
class CommissionOverrideField(serializers.Field):
    """An affiliate's own rule: `{"type": "percent", "bps": 2500}` or `{"type": "fixed", "amount": 1500}`.

    Validated into the model's three override fields; null means "the program's rule".
    """

    shapes = {CommissionType.PERCENT: PercentOverrideSerializer, CommissionType.FIXED: FixedOverrideSerializer}

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str) or data["type"] not in self.shapes:
            raise serializers.ValidationError(
                'Give {"type": "percent", "bps": …} or {"type": "fixed", "amount": …}, or null.', code="invalid"
            )
        shape = self.shapes[data["type"]](data=data)
        type_errors = json_type_errors(shape, data)
        if type_errors:
            raise serializers.ValidationError(type_errors)
        shape.is_valid(raise_exception=True)
        return {
            "type": data["type"],
            "bps": shape.validated_data.get("bps"),
            "amount": shape.validated_data.get("amount"),
        }

    def to_representation(self, affiliate: Affiliate) -> dict | None:
        if affiliate.commission_type_override == CommissionType.PERCENT:
            return {"type": CommissionType.PERCENT.value, "bps": affiliate.commission_bps_override}
        if affiliate.commission_type_override == CommissionType.FIXED:
            return {"type": CommissionType.FIXED.value, "amount": affiliate.commission_amount_override}
        return None


class PromotionCodeSerializer(serializers.Serializer):
    id = serializers.CharField(source="stripe_id", help_text="The Stripe promotion code's id (`promo_...`).")
    code = serializers.CharField(help_text="What customers type at checkout, e.g. `MAYA20`.")


@extend_schema_field(
    serializers.ListField(
        child=serializers.CharField(),
        help_text="Codes as customers type them (`MAYA20`) or their ids (`promo_...`); "
        '`{"id": ...}` or `{"code": ...}` objects are taken too.',
    )
)
class PromotionCodesField(serializers.Field):
    """Input for `promotion_codes`: a list of code texts or `promo_` ids (or the output's objects), looked up in the
    merchant's Stripe account by the service."""

    MAX = 50

    def to_internal_value(self, data) -> list[str]:
        if not isinstance(data, list):
            raise serializers.ValidationError("Give a list of promotion codes or their ids.", code="invalid_type")
        if len(data) > self.MAX:
            raise serializers.ValidationError(f"At most {self.MAX} promotion codes.", code="invalid")
        texts = []
        for item in data:
            if isinstance(item, dict):
                item = item.get("id") or item.get("code")
            if not isinstance(item, str) or not item.strip() or len(item) > 255:
                raise serializers.ValidationError(
                    'Each promotion code is a string ("MAYA20" or "promo_...").', code="invalid_type"
                )
            texts.append(item.strip())
        return texts

    def to_representation(self, value):
        return value


class AffiliateOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()
    name = serializers.CharField()
    code = serializers.CharField(help_text="Used in links: `?ref=CODE`.")
    status = serializers.ChoiceField(choices=Affiliate.Status.choices)
    link = serializers.SerializerMethodField(help_text="The affiliate's referral link to the merchant's site.")
    program = serializers.UUIDField(source="program.public_id")
    parent = serializers.UUIDField(
        source="parent.public_id",
        allow_null=True,
        help_text="The affiliate it joined through (two-tier programs pay the parent a share), or null.",
    )
    commission_override = CommissionOverrideField(
        source="*",
        allow_null=True,
        help_text="The affiliate's own commission rule, or null when the program's applies.",
    )
    promotion_codes = PromotionCodeSerializer(
        many=True, help_text="Stripe promotion codes that attribute a payment to this affiliate with no link."
    )
    created = serializers.DateTimeField(source="created_at")
    approved_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.URLField())
    def get_link(self, affiliate: Affiliate) -> str:
        return affiliate_link(affiliate)


class BackfillSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CustomerBackfill.Status.choices)
    payments = serializers.IntegerField(help_text="Past paid payments read from Stripe.")
    credited = serializers.IntegerField(help_text="Of those, how many earn a commission for this referral.")
    amounts = serializers.DictField(
        child=serializers.IntegerField(), help_text='What they earn, per currency in minor units: {"usd": 1800}.'
    )
    finished = serializers.DateTimeField(source="finished_at", allow_null=True)


class ReferralOutputSerializer(serializers.Serializer):
    id = serializers.CharField(
        source="rid", help_text="The referral id: `client_reference_id` / `metadata._afficoneRef`."
    )
    affiliate = serializers.UUIDField(source="affiliate.public_id")
    customer = serializers.CharField(
        source="stripe_customer_id", allow_null=True, help_text="The Stripe customer id, once known."
    )
    customer_email = serializers.CharField(allow_blank=True)
    source = serializers.ChoiceField(
        choices=Referral.Source.choices,
        help_text="How it came about: a click on a link, a lead, a promotion code used at checkout, or the merchant "
        "binding a customer (`manual` in the dashboard or an import, `api` here).",
    )
    backfill = serializers.SerializerMethodField(
        help_text="For a customer bound by the merchant: their past payments read from Stripe and credited."
    )
    created = serializers.DateTimeField(source="created_at")
    converted_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(BackfillSerializer(allow_null=True))
    def get_backfill(self, referral: Referral) -> dict | None:
        try:
            backfill = referral.backfill
        except CustomerBackfill.DoesNotExist:
            return None
        return BackfillSerializer(backfill).data


class LeadOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    referral = serializers.CharField(source="referral.rid", help_text="The referral id the lead is bound to.")
    affiliate = serializers.UUIDField(source="referral.affiliate.public_id")
    email = serializers.CharField(help_text="Trimmed and lower-cased; a plus-address is a different address.")
    customer = serializers.SerializerMethodField(
        help_text="The Stripe customer the lead bound (or named, until it binds); null for neither."
    )
    external_id = serializers.CharField(allow_blank=True, help_text="Your own id for the visitor.")
    origin = serializers.ChoiceField(choices=Lead.Origin.choices, help_text="`browser` or `server`.")
    bound_at = serializers.DateTimeField(allow_null=True, help_text="When a Stripe customer was bound through it.")
    created = serializers.DateTimeField(source="created_at")

    def get_customer(self, lead: Lead) -> str | None:
        return lead.bound_customer_id or lead.stripe_customer_id or None


class CommissionSourceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=Commission.SourceType.choices)
    id = serializers.CharField(help_text="The Stripe object's id, or `conv_<your sale id>` for a conversion.")


class CommissionLineSerializer(serializers.Serializer):
    product = serializers.CharField(allow_blank=True, help_text="The Stripe product of the line, where known.")
    price = serializers.CharField(allow_blank=True, help_text="The Stripe price of the line, where known.")
    base_amount = serializers.IntegerField(help_text="The line's share of the payment (tax excluded).")
    amount = serializers.IntegerField(help_text="What the line earned.")
    rule_source = serializers.ChoiceField(choices=RuleSource.choices)
    rule_index = serializers.IntegerField(allow_null=True, help_text="The program rule that decided it, from 0.")


class CommissionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    affiliate = serializers.UUIDField(source="affiliate.public_id")
    referral = serializers.CharField(source="referral.rid", allow_null=True)
    amount = serializers.IntegerField(help_text="Earned when the payment was made, in minor units.")
    reversed_amount = serializers.IntegerField(help_text="Taken back by refunds and lost disputes.")
    net_amount = serializers.IntegerField(help_text="What the affiliate is owed: `amount - reversed_amount`.")
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Commission.Status.choices)
    source = serializers.SerializerMethodField()
    base_amount = serializers.IntegerField(help_text="The payment it was computed on, tax excluded.")
    refunded_amount = serializers.IntegerField(help_text="How much of that payment has been refunded.")
    rule = serializers.CharField(
        source="rule_label",
        help_text='The rule used, e.g. "program:percent:2000bps", "rule[1]:percent:3000bps", "rule[2]:exclude".',
    )
    rule_source = serializers.ChoiceField(
        choices=RuleSource.choices,
        help_text="`rule`: a rule of the program (`rule_index`); `program`: its commission; `affiliate`: the "
        "affiliate's override; `lines`: the payment's lines were decided differently (see `lines`).",
    )
    rule_type = serializers.ChoiceField(choices=RuleType.choices)
    rule_index = serializers.IntegerField(
        allow_null=True, help_text="The position, from 0, in the program's `rules` of the rule that decided."
    )
    rule_description = serializers.CharField(
        allow_blank=True, help_text="The rule that decided, in words, as it was when the commission was recorded."
    )
    program = serializers.UUIDField(
        source="program.public_id", allow_null=True, help_text="The program it was earned under."
    )
    lines = CommissionLineSerializer(
        many=True, help_text="What each line item of the payment earned, when the payment listed them."
    )
    is_recurring = serializers.BooleanField()
    is_self_referral = serializers.BooleanField()
    is_on_hold = serializers.BooleanField(help_text="Held while a dispute is open.")
    hold_until = serializers.DateTimeField(help_text="Approved automatically after this, unless reversed.")
    payout = serializers.UUIDField(source="payout.public_id", allow_null=True)
    void_reason = serializers.CharField(allow_blank=True)
    created = serializers.DateTimeField(source="created_at")
    approved_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    voided_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(CommissionSourceSerializer())
    def get_source(self, commission: Commission) -> dict:
        return {"type": commission.source_type, "id": commission.source_id}


class PayoutOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    affiliate = serializers.UUIDField(source="affiliate.public_id")
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Payout.Status.choices)
    reference = serializers.CharField(allow_blank=True, help_text="The transfer's reference, e.g. a PayPal id.")
    batch = serializers.UUIDField(source="batch.public_id", allow_null=True)
    commissions = serializers.SerializerMethodField(help_text="The ids of the commissions it pays.")
    created = serializers.DateTimeField(source="created_at")
    paid_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_commissions(self, payout: Payout) -> list[str]:
        return [str(commission.public_id) for commission in payout.commissions.all()]


RULES_HELP = (
    "The ordered rules; the first that matches a line of a payment decides it, else the program's commission (or "
    'the affiliate\'s override). Each is `{"match": {...}, "commission": {"type": "percent", '
    '"bps": N}}`, or with `{"type": "fixed", "amount": N, "currency": "usd"}`, or '
    '`"exclude": true`, and an optional `label`. A match holds any of `product`, `price` (Stripe ids), '
    "`recurring` (true/false), `currency`, `affiliate_customers_gte` (a number) and `affiliate_revenue_gte` "
    '(`{"amount", "currency"}`); `{}` is every payment.'
)


_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,255}$"}
_CURRENCY = {"type": "string", "pattern": r"^[A-Za-z]{3}$"}
_MONEY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["amount", "currency"],
    "properties": {"amount": {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT}, "currency": _CURRENCY},
}
_MATCH = {
    "type": "object",
    "additionalProperties": False,
    "description": "Every condition given holds; `{}` is every payment.",
    "properties": {
        "product": _ID,
        "price": _ID,
        "recurring": {"type": "boolean", "description": "true: recurring payments; false: a first payment."},
        "currency": _CURRENCY,
        "affiliate_customers_gte": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
        "affiliate_revenue_gte": _MONEY,
    },
}
_LABEL = {"type": "string", "maxLength": 100, "description": "Shown to affiliates, e.g. the product's name."}
_PERCENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "bps"],
    "properties": {
        "type": {"type": "string", "enum": ["percent"]},
        "bps": {"type": "integer", "minimum": 0, "maximum": 10000},
    },
}
_FIXED = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "amount", "currency"],
    "properties": {"type": {"type": "string", "enum": ["fixed"]}, **_MONEY["properties"]},
}
RULES_SCHEMA = {
    "type": "array",
    "maxItems": MAX_RULES,
    "items": {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["match", "commission"],
                "properties": {"match": _MATCH, "commission": {"oneOf": [_PERCENT, _FIXED]}, "label": _LABEL},
            },
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["match", "exclude"],
                "properties": {"match": _MATCH, "exclude": {"type": "boolean", "enum": [True]}, "label": _LABEL},
            },
        ]
    },
}


@extend_schema_field(RULES_SCHEMA)
class RulesField(serializers.Field):
    """A program's `rules`, checked by affiliates.rules.validate_rules: a bad rule answers 400 naming its path."""

    def to_internal_value(self, data) -> list[dict]:
        try:
            return validate_rules(data, path="")
        except RuleError as exc:
            if not exc.path:
                raise serializers.ValidationError(exc.message, code="invalid") from None
            raise serializers.ValidationError({exc.path: [exc.message]}, code="invalid") from None

    def to_representation(self, value) -> list[dict]:
        return list(value or [])


BONUSES_HELP = (
    "One-off bonuses, each paid once to an affiliate of the program, as a commission of its own (source type "
    '`bonus`), when its results reach `when`: `{"id": "...", "when": {"affiliate_customers_gte": N} or '
    '{"affiliate_revenue_gte": {"amount", "currency"}}, "bonus": {"amount", "currency"}, "label": "..."}`. '
    "`id` is made when left out; keep it when editing a bonus, so affiliates who earned it do not earn it again. "
    "Results count over all time; customers are those who paid (not refunded in full), revenue what they paid less "
    "refunds, tax excluded. Refunds that take the results back under the threshold reverse a bonus not yet in a "
    "payout; reaching the threshold again restores it. The list replaces the program's bonuses."
)
NEXT_TIER_HELP = (
    "Where the program's affiliates move up to, or null: `program` (another of your programs), `when` (one threshold, "
    "as for bonuses), `period_days` (null: all time; else results of the last N days) and `mode` (`automatic`, or "
    "`approval`: the move waits for the merchant in the dashboard). A move is made once and never undone; commissions "
    "already earned keep their program, later payments earn by the new one; the affiliate is emailed when moved."
)

_POSITIVE_MONEY = {
    **_MONEY,
    "properties": {**_MONEY["properties"], "amount": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT}},
}
_WHEN = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "description": "One threshold on the affiliate's results.",
    "properties": {
        "affiliate_customers_gte": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
        "affiliate_revenue_gte": _POSITIVE_MONEY,
    },
}
BONUSES_SCHEMA = {
    "type": "array",
    "maxItems": MAX_BONUSES,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["when", "bonus"],
        "properties": {
            "id": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,40}$"},
            "when": _WHEN,
            "bonus": _POSITIVE_MONEY,
            "label": _LABEL,
        },
    },
}


@extend_schema_field(BONUSES_SCHEMA)
class BonusesField(serializers.Field):
    """A program's `bonuses`, checked by affiliates.tiers.validate_bonuses: a bad one answers 400 naming its path."""

    def to_internal_value(self, data) -> list[dict]:
        try:
            # Two bonuses with one id are the service's to refuse (409: the schema cannot say it).
            return validate_bonuses(data, path="", unique_ids=False)
        except RuleError as exc:
            if not exc.path:
                raise serializers.ValidationError(exc.message, code="invalid") from None
            raise serializers.ValidationError({exc.path: [exc.message]}, code="invalid") from None

    def to_representation(self, value) -> list[dict]:
        return list(value or [])


@extend_schema_field(_WHEN)
class WhenField(serializers.Field):
    def to_internal_value(self, data) -> dict:
        try:
            return validate_when(data, "")
        except RuleError as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from None

    def to_representation(self, value) -> dict:
        return dict(value)


class NextTierOutputSerializer(serializers.Serializer):
    program = serializers.UUIDField(source="next_tier.public_id")
    when = WhenField(source="tier_when")
    period_days = serializers.IntegerField(
        source="tier_period_days", allow_null=True, min_value=1, max_value=MAX_PERIOD_DAYS
    )
    mode = serializers.ChoiceField(source="tier_mode", choices=Program.TierMode.choices)


class ProgramOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()
    slug = serializers.CharField(help_text="Its signup page: `/p/<merchant>/join/<slug>/`.")
    status = serializers.ChoiceField(choices=Program.Status.choices)
    is_default = serializers.BooleanField(help_text="New affiliates join the default program; there is one.")
    signup_url = serializers.SerializerMethodField(help_text="The program's public signup page.")
    commission_type = serializers.ChoiceField(choices=CommissionType.choices)
    commission_bps = serializers.IntegerField(help_text="For `percent`: basis points (2000 = 20%).")
    commission_amount = serializers.IntegerField(help_text="For `fixed`: minor units of `commission_currency`.")
    commission_currency = serializers.CharField()
    recurring_months = serializers.IntegerField(
        allow_null=True, help_text="Months in which recurring payments earn; null = forever, 0 = first payment only."
    )
    cookie_days = serializers.IntegerField()
    hold_days = serializers.IntegerField()
    min_payout_amount = serializers.IntegerField()
    attribution = serializers.ChoiceField(choices=Program.Attribution.choices)
    promotion_codes_first = serializers.BooleanField(
        help_text="Where a payment's referral id and promotion code name different affiliates, the code's wins."
    )
    two_tier = serializers.BooleanField(
        help_text="Two-tier: an affiliate's parent (the affiliate it signed up through) earns `two_tier_bps` of each "
        "commission the affiliate earns in this program, as a commission of source type `two_tier`."
    )
    two_tier_bps = serializers.IntegerField(
        help_text="The parent's share, in basis points of the sub-affiliate's commission (1000 = 10%)."
    )
    auto_approve = serializers.BooleanField()
    signup_open = serializers.BooleanField()
    rules = RulesField(help_text=RULES_HELP)
    next_tier = serializers.SerializerMethodField(help_text=NEXT_TIER_HELP)
    bonuses = BonusesField(help_text=BONUSES_HELP)
    created = serializers.DateTimeField(source="created_at")

    @extend_schema_field(NextTierOutputSerializer(allow_null=True))
    def get_next_tier(self, program: Program) -> dict | None:
        if program.next_tier_id is None or not program.tier_when:
            return None
        return NextTierOutputSerializer(program).data

    @extend_schema_field(OpenApiTypes.URI)
    def get_signup_url(self, program: Program) -> str:
        return settings.SITE_URL + reverse(
            "affiliates:portal_program_signup", kwargs={"slug": program.merchant.slug, "program": program.slug}
        )


class ConversionOutputSerializer(serializers.Serializer):
    """A sale recorded through the API, and the commission it earned."""

    id = serializers.SerializerMethodField(help_text="Your id for the sale.")
    referral = serializers.CharField(source="referral.rid", allow_null=True)
    affiliate = serializers.UUIDField(source="affiliate.public_id")
    amount = serializers.IntegerField(source="base_amount", help_text="The sale, tax excluded, in minor units.")
    refunded_amount = serializers.IntegerField()
    commission = CommissionOutputSerializer(source="*")
    created = serializers.DateTimeField(source="created_at")

    def get_id(self, commission: Commission) -> str:
        return sale_id(commission)
