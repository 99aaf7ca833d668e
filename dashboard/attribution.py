"""The affiliate page's attribution beyond links: promotion codes assigned to the affiliate, and Stripe customers the
merchant attributes by hand, with the result of crediting their past payments (stripe_integration/attribution.py).

Thin views, as dashboard/views.py: rows through `for_merchant(request.merchant)` (another merchant's ids are 404),
one call into stripe_integration.attribution, a message, a redirect back to the affiliate page.
"""

from datetime import UTC, datetime

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from affiliates import money
from affiliates.models import Affiliate, Referral
from stripe_integration import attribution
from stripe_integration.models import CustomerBackfill, PromotionCode
from tenants.access import merchant_required


def affiliate_attribution(merchant, affiliate: Affiliate) -> dict:
    """What the affiliate page shows of it: the affiliate's codes, and the customers attributed by hand."""
    backfills = list(
        CustomerBackfill.objects.for_merchant(merchant)
        .filter(referral__affiliate=affiliate)
        .select_related("referral")
        .order_by("-created_at")[:20]
    )
    for backfill in backfills:
        backfill.amount_text = ", ".join(money.format_money(v, c) for c, v in sorted(backfill.amounts.items()))
    return {
        "promotion_codes": PromotionCode.objects.for_merchant(merchant).filter(affiliate=affiliate).order_by("code"),
        "backfills": backfills,
        "suggested_code": attribution.suggested_code(affiliate),
    }


def _affiliate(request, uid) -> Affiliate:
    return get_object_or_404(Affiliate.objects.for_merchant(request.merchant), public_id=uid)


def _back(affiliate: Affiliate, anchor: str):
    return redirect(reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}) + f"#{anchor}")


@merchant_required
@require_POST
def promotion_code_add(request, uid):
    affiliate = _affiliate(request, uid)
    try:
        code = attribution.assign_promotion_code(affiliate, request.POST.get("code", ""))
    except attribution.AttributionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Payments with the promotion code {code.code} now earn for {affiliate}.")
    return _back(affiliate, "promotion-codes")


@merchant_required
@require_POST
def promotion_code_create(request, uid):
    """Creates a code in the merchant's Stripe account from a coupon (write access only) and assigns it."""
    affiliate = _affiliate(request, uid)
    try:
        code = attribution.create_promotion_code(
            affiliate, coupon=request.POST.get("coupon", ""), code=request.POST.get("code", "")
        )
    except attribution.AttributionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Created {code.code} in your Stripe account (coupon {code.coupon_id}): it earns for {affiliate}."
        )
    return _back(affiliate, "promotion-codes")


@merchant_required
@require_POST
def promotion_code_remove(request, uid, pk):
    affiliate = _affiliate(request, uid)
    code = get_object_or_404(PromotionCode.objects.for_merchant(request.merchant), affiliate=affiliate, pk=pk)
    attribution.remove_promotion_code(code)
    messages.success(request, f"{code.code} no longer earns for {affiliate}; what it earned stays.")
    return _back(affiliate, "promotion-codes")


@merchant_required
def attribute_customer(request, uid):
    """GET ?q=: the Stripe customers a `cus_` id or an email names, each with its button; POST customer=: attribute."""
    affiliate = _affiliate(request, uid)
    if request.method == "POST":
        customer_id = request.POST.get("customer", "").strip()
        try:
            attribution.attribute_customer(
                request.merchant, affiliate=affiliate, customer_id=customer_id, source=Referral.Source.MANUAL
            )
        except attribution.AttributionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"{customer_id} is now {affiliate}'s customer. Their past payments are being read from Stripe: "
                "what they earn appears below.",
            )
        return _back(affiliate, "attributed")
    query = request.GET.get("q", "").strip()[:200]
    error, customers = "", []
    try:
        customers = attribution.find_customers(request.merchant, query)
    except attribution.AttributionError as exc:
        error = str(exc)
    holders = {
        r.stripe_customer_id: r.affiliate
        for r in Referral.objects.for_merchant(request.merchant)
        .filter(stripe_customer_id__in=[c["id"] for c in customers])
        .select_related("affiliate")
    }
    for found in customers:
        found["holder"] = holders.get(found["id"])
        found["created_at"] = datetime.fromtimestamp(found["created"], UTC) if found.get("created") else None
    context = {"affiliate": affiliate, "query": query, "customers": customers, "error": error}
    return render(request, "affiliates/attribute_customer.html", context)


@merchant_required
@require_POST
def backfill_retry(request, uid, pk):
    affiliate = _affiliate(request, uid)
    backfill = get_object_or_404(
        CustomerBackfill.objects.for_merchant(request.merchant), referral__affiliate=affiliate, pk=pk
    )
    attribution.rerun_backfill(backfill)
    messages.success(request, f"Reading the past payments of {backfill.referral.stripe_customer_id} again.")
    return _back(affiliate, "attributed")
