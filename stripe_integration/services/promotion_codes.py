"""Promotion codes assigned to affiliates (DESIGN.md, "Attribution beyond the cookie", item 3).

The merchant assigns codes of its Stripe account (`MAYA20`, or its `promo_` id) to an affiliate; each is looked up in
the connected account through the StripeClient and kept as a `PromotionCode` row, unique per merchant. A Checkout
Session, invoice or subscription whose discounts name an assigned code is attributed to its affiliate with no link and
no referral id: a referral with source `promotion_code` is bound to the customer, whose later invoices earn as any
referred customer's do.

Where a payment's referral id names another affiliate than its code, the code's affiliate's program decides
(`Program.promotion_codes_first`; for new programs the code wins, the customer's last act). The decision reads only
the Stripe objects of the payment, never what happened to be processed first: an invoice that arrives before its
subscription's Checkout Session reads that session (and the customer) from Stripe to decide as the session would.
"""

from __future__ import annotations

from typing import Any

import stripe
from django.db import IntegrityError, transaction

from affiliates.models import Affiliate, Referral
from affiliates.services import create_referral
from affiliates.signals import affiliate_updated, send_for
from tenants.models import Merchant
from tracking.services import resolve_reference

from ..client import stripe_client
from ..models import PromotionCode
from .links import link_customer
from .lookups import AttributionError, require_connected, stripe_options, stripe_unavailable
from .payload import StripeData, reference, unexpected

FIELD = "promotion_codes"


# --- assigning ------------------------------------------------------------------------------------------------------


def lookup_promotion_code(merchant: Merchant, text: str) -> dict:
    """The promotion code of the merchant's Stripe account named by `text`: its `promo_` id, or the code customers
    type (case-insensitive, as Stripe compares them; an active code before an inactive one of the same text)."""
    text = (text or "").strip()
    if not text or len(text) > 255:
        raise AttributionError(
            "Give a promotion code (MAYA20) or its id (promo_...).", code="invalid", field=FIELD, status=400
        )
    require_connected(merchant, field=FIELD)
    codes = stripe_client().v1.promotion_codes
    try:
        if text.startswith("promo_"):
            return codes.retrieve(text, options=stripe_options(merchant)).to_dict()
        found = [
            code.to_dict()
            for code in codes.list(params={"code": text, "limit": 10}, options=stripe_options(merchant)).data
        ]
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise stripe_unavailable(exc, field=FIELD) from None
        found = []
    except stripe.StripeError as exc:
        raise stripe_unavailable(exc, field=FIELD) from None
    if not found:
        raise AttributionError(
            f"Your Stripe account has no promotion code {text}. Create it in Stripe (Products → Coupons) first.",
            code="unknown_promotion_code",
            field=FIELD,
            status=400,
        )
    return sorted(found, key=lambda code: not code.get("active"))[0]


def coupon_of(promotion_code: dict) -> str:
    """Its coupon: `promotion.coupon` (API 2025-09-30 and later) or `coupon` (earlier versions, an object)."""
    code = StripeData(promotion_code, "promotion_code")
    return code.object("promotion").id("coupon") or code.id("coupon")


def assign_promotion_code(affiliate: Affiliate, text: str) -> PromotionCode:
    """Looks `text` up in the merchant's Stripe account and assigns that code to `affiliate`.

    Idempotent: assigning a code the affiliate already holds returns its row. A code another affiliate of the
    merchant holds is refused (409), whichever spelling names it.
    """
    found = lookup_promotion_code(affiliate.merchant, text)
    with transaction.atomic():
        assigned, changed = _assign(affiliate, found)
        if changed:
            send_for(affiliate_updated, affiliate)
    return assigned


def set_promotion_codes(affiliate: Affiliate, texts: list[str]) -> list[PromotionCode]:
    """Makes `texts` the affiliate's codes (the API's `promotion_codes`): every one is looked up first, so an unknown
    one changes nothing; codes left out are unassigned. All or nothing."""
    found: dict[str, dict] = {}
    for text in texts:
        code = lookup_promotion_code(affiliate.merchant, text)
        found.setdefault(code["id"], code)
    with transaction.atomic():
        rows, changed = [], False
        for code in found.values():
            row, added = _assign(affiliate, code)
            rows.append(row)
            changed |= added
        dropped, _ = PromotionCode.objects.filter(affiliate=affiliate).exclude(stripe_id__in=list(found)).delete()
        if changed or dropped:
            send_for(affiliate_updated, affiliate)
    return rows


# Stripe's rule for a promotion code's customer-facing text (letters, digits and dashes, at most 500 characters).
MAX_CODE_LENGTH = 500


def suggested_code(affiliate: Affiliate) -> str:
    """The code text created for an affiliate when the merchant gives none: its referral code, upper-cased, with `_`
    (which Stripe's codes do not take) as `-`."""
    return affiliate.code.upper().replace("_", "-")


def create_promotion_code(affiliate: Affiliate, *, coupon: str, code: str = "") -> PromotionCode:
    """Creates a promotion code in the merchant's Stripe account from `coupon` (a coupon id) and assigns it to the
    affiliate. Only with write access (`Merchant.can_write_to_stripe`, asked for when connecting): 409 otherwise.

    `code` is the text customers type (default `suggested_code`). An unknown coupon or a code text Stripe already has
    among active codes is a 400 and nothing is written; the new code carries `metadata.afficone_affiliate` (the
    affiliate's public id), so the merchant sees in Stripe whom it earns for. Idempotent per affiliate and coupon: an
    affiliate that already holds a code of that coupon gets that one back, and Stripe is not asked again.
    """
    merchant = affiliate.merchant
    coupon = (coupon or "").strip()
    code = (code or "").strip() or suggested_code(affiliate)
    if not coupon or len(coupon) > 255:
        raise AttributionError("Give the id of a coupon of your Stripe account.", code="invalid", field="coupon")
    if len(code) > MAX_CODE_LENGTH or not code.replace("-", "").isalnum() or not code.isascii():
        raise AttributionError(
            "A promotion code is letters, digits and dashes (MAYA20).", code="invalid", field="code", status=400
        )
    require_connected(merchant, field=FIELD)
    if not merchant.can_write_to_stripe:
        raise AttributionError(
            "Afficone has read-only access to your Stripe account. Reconnect Stripe and allow Afficone to create "
            "promotion codes, or create the code in Stripe and add it here.",
            code="stripe_read_only",
            field=FIELD,
        )
    held = PromotionCode.objects.for_merchant(merchant).filter(affiliate=affiliate, coupon_id=coupon).first()
    if held is not None:
        return held
    try:
        created = (
            stripe_client()
            .v1.promotion_codes.create(
                params={
                    "promotion": {"type": "coupon", "coupon": coupon},
                    "code": code,
                    "metadata": {"afficone_affiliate": str(affiliate.public_id)},
                },
                options=stripe_options(merchant),
            )
            .to_dict()
        )
    except stripe.InvalidRequestError as exc:
        if exc.http_status not in (400, 404):
            raise stripe_unavailable(exc, field=FIELD) from None
        raise AttributionError(
            f"Stripe did not create the code {code}: {exc.user_message or exc.code}",
            code="stripe_refused",
            field="coupon" if (exc.param or "").endswith("coupon") else "code",
            status=400,
        ) from None
    except stripe.PermissionError:
        raise AttributionError(
            "Your Stripe account no longer lets Afficone create promotion codes. Reconnect Stripe with write access.",
            code="stripe_read_only",
            field=FIELD,
        ) from None
    except stripe.StripeError as exc:
        raise stripe_unavailable(exc, field=FIELD) from None
    with transaction.atomic():
        assigned, changed = _assign(affiliate, created)
        if changed:
            send_for(affiliate_updated, affiliate)
    return assigned


def _assign(affiliate: Affiliate, code: dict) -> tuple[PromotionCode, bool]:
    holder = (
        PromotionCode.objects.for_merchant(affiliate.merchant)
        .select_related("affiliate")
        .filter(stripe_id=code["id"])
        .first()
    )
    taken = AttributionError(
        f"The promotion code {code.get('code')} is already assigned to "
        f"{holder.affiliate if holder else 'another affiliate'}; remove it there first.",
        code="promotion_code_taken",
        field=FIELD,
    )
    if holder is not None:
        if holder.affiliate_id != affiliate.pk:
            raise taken
        return holder, False
    try:
        with transaction.atomic():
            row = PromotionCode.objects.create(
                merchant_id=affiliate.merchant_id,
                affiliate=affiliate,
                stripe_id=code["id"],
                code=str(code.get("code") or code["id"])[:255],
                coupon_id=coupon_of(code)[:255],
            )
    except IntegrityError:  # assigned to someone between our check and our insert
        raise taken from None
    return row, True


def remove_promotion_code(promotion_code: PromotionCode) -> None:
    """Unassigns the code: later payments with it earn nothing by it; what it earned stays."""
    with transaction.atomic():
        PromotionCode.objects.filter(pk=promotion_code.pk).delete()
        send_for(affiliate_updated, promotion_code.affiliate)


# --- reading the codes a payment used -------------------------------------------------------------------------------


# A discount entry, as the payload carries it: a bare `di_` id (not expanded), or the discount object.
Entry = str | StripeData


def session_promotion_code_ids(session: StripeData) -> list[str]:
    """The promotion codes a Checkout Session used: `discounts[].promotion_code` (and the expanded breakdown)."""
    breakdown = session.object("total_details").object("breakdown").objects("discounts")
    entries = [*_discount_list(session), *(_discount_of(item) for item in breakdown)]
    return _codes_of(entries)[0]


def _discount_list(obj: StripeData) -> list[Entry]:
    """`discounts`: a list of `di_` ids, or of discount objects where expanded (a Checkout Session's always are)."""
    value = obj.data.get("discounts")
    if value is None:
        return []
    if not isinstance(value, list):
        raise unexpected(obj.where("discounts"), "a list of discounts", value)
    return [_entry(item, f"{obj.where('discounts')}[{index}]") for index, item in enumerate(value)]


def _discount_of(item: StripeData) -> Entry:
    return _entry(item.data.get("discount"), item.where("discount"))


def _entry(value: object, path: str) -> Entry:
    if value is None or isinstance(value, str):
        return value or ""
    if not isinstance(value, dict):
        raise unexpected(path, "a discount id (a string) or a discount object", value)
    return StripeData(value, path)


def _codes_of(entries: list[Entry]) -> tuple[list[str], bool]:
    """(the promotion code ids the discount entries name, whether some entries are bare `di_` ids to expand)."""
    codes: list[str] = []
    unexpanded = False
    for entry in entries:
        if isinstance(entry, StripeData):
            code = entry.id("promotion_code")
            if code and code not in codes:
                codes.append(code)
        elif entry:
            unexpanded = True
    return codes, unexpanded


def _discount_entries(obj: StripeData) -> list[Entry]:
    return [*_discount_list(obj), *(_discount_of(item) for item in obj.objects("total_discount_amounts"))]


def has_discounts(obj: StripeData) -> bool:
    return any(_discount_entries(obj))


def discounted_promotion_code_ids(merchant: Merchant, obj: StripeData) -> list[str]:
    """The promotion codes an invoice or subscription used. Their `discounts` (and an invoice's
    `total_discount_amounts[].discount`) are `di_` ids unless expanded, and Stripe has no endpoint for a discount by
    id: the object itself is read again with `expand[]=discounts` (one call, made only by the callers below for a
    customer not yet bound, of a merchant that has assigned codes)."""
    codes, unexpanded = _codes_of(_discount_entries(obj))
    if codes or not unexpanded:
        return codes
    expand = ["discounts"]
    if obj.string("object") == "invoice":
        service: Any = stripe_client().v1.invoices
        expand.append("total_discount_amounts.discount")
    else:
        service = stripe_client().v1.subscriptions
    fresh = service.retrieve(obj.string("id"), params={"expand": expand}, options=stripe_options(merchant)).to_dict()
    return _codes_of(_discount_entries(StripeData(fresh, obj.string("object") or "object")))[0]


def assigned_code(merchant: Merchant, promotion_code_ids: list[str]) -> PromotionCode | None:
    """The first of these codes that is assigned to one of the merchant's affiliates, with its affiliate's program."""
    if not promotion_code_ids:
        return None
    rows = {
        row.stripe_id: row
        for row in PromotionCode.objects.for_merchant(merchant)
        .select_related("affiliate__program")
        .filter(stripe_id__in=promotion_code_ids)
    }
    return next((rows[code] for code in promotion_code_ids if code in rows), None)


def merchant_has_codes(merchant: Merchant) -> bool:
    return PromotionCode.objects.for_merchant(merchant).exists()


# --- deciding -------------------------------------------------------------------------------------------------------


def code_wins(referral: Referral | None, code: PromotionCode) -> bool:
    """Whether the code's affiliate earns rather than the referral id's (the same affiliate: the referral id's)."""
    if referral is None:
        return True
    return referral.affiliate_id != code.affiliate_id and code.affiliate.program.promotion_codes_first


def attributed_referral(
    merchant: Merchant, *, referral: Referral | None, code: PromotionCode | None, customer_id: str = ""
) -> Referral | None:
    """The referral a payment earns for, given the referral id it names (resolved) and the assigned code it used."""
    if code is None or not code_wins(referral, code):
        return referral
    return code_referral(code, customer_id=customer_id)


def code_referral(code: PromotionCode, *, customer_id: str = "") -> Referral:
    """The code's affiliate's referral for this customer: the one already bound to them, else a new one (source
    `promotion_code`) for the caller to bind."""
    if customer_id:
        bound = (
            Referral.objects.for_merchant(code.merchant_id)
            .filter(stripe_customer_id=customer_id, affiliate_id=code.affiliate_id)
            .first()
        )
        if bound is not None:
            return bound
    return create_referral(code.affiliate, source=Referral.Source.PROMOTION_CODE)


def bind_by_promotion_code(
    merchant: Merchant, obj: StripeData, *, customer_id: str, subscription_id: str, email: str = ""
) -> Referral | None:
    """An invoice or subscription of a customer bound to no referral: if it used an assigned code, the customer is
    bound (to the code's affiliate, or to a referral id that beats it) and that referral returned; else None.

    Callers hold the customer's lock. Costs a query for discounted objects only, and Stripe calls only when the
    merchant has assigned codes.
    """
    if not has_discounts(obj) or not merchant_has_codes(merchant):
        return None
    code = assigned_code(merchant, discounted_promotion_code_ids(merchant, obj))
    if code is None:
        return None
    referral = None
    if not code.affiliate.program.promotion_codes_first:
        referred = reference(obj) or subscription_reference(
            merchant, subscription_id=subscription_id, customer_id=customer_id
        )
        referral = resolve_reference(merchant, referred) if referred else None
    chosen = (
        referral
        if referral is not None and not code_wins(referral, code)
        else code_referral(code, customer_id=customer_id)
    )
    return link_customer(chosen, customer_id=customer_id, email=email, subscription_id=subscription_id)


def subscription_reference(merchant: Merchant, *, subscription_id: str, customer_id: str) -> str:
    """The referral id that the subscription's Checkout Session or its customer carries, read from Stripe ("" if
    none): what the session's or customer's own event will bind the customer by, whenever it arrives."""
    options = stripe_options(merchant)
    client = stripe_client()
    if subscription_id:
        sessions = client.v1.checkout.sessions.list(
            params={"subscription": subscription_id, "limit": 1}, options=options
        )
        for session in sessions.data:
            data = StripeData(session.to_dict(), "checkout.session")
            referred = data.string("client_reference_id").strip() or reference(data)
            if referred:
                return referred
    if customer_id:
        try:
            customer = client.v1.customers.retrieve(customer_id, options=options).to_dict()
            return reference(StripeData(customer, "customer"))
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
    return ""
