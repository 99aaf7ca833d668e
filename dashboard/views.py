"""The merchant dashboard: overview, onboarding, affiliates, settings (commissions, payouts and programs have modules
of their own beside this one).

Every view goes through `merchant_required` and fetches rows with
`for_merchant(request.merchant)`: another merchant's ids answer 404.
"""

from django.conf import settings as django_settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from affiliates import rule_words, services
from affiliates.models import Affiliate, Commission, Payout, Referral
from stripe_integration.selectors import recent_events, webhook_health
from tenants.access import merchant_required
from tracking.models import Click

from . import attribution, exports, periods, reports, selectors
from .forms import (
    AffiliateEditForm,
    AffiliateParentForm,
    AffiliateStatusForm,
    InviteAffiliateForm,
    MoveAffiliateForm,
)
from .pages import is_uuid, paginate, period_of, program_of, redirect_back

# --- overview and onboarding -----------------------------------------------------------------------------------------


@merchant_required
def overview(request):
    period = period_of(request)
    steps = selectors.onboarding_steps(request.merchant)
    program, _ = program_of(request)
    stats, series = reports.overview_and_series(request.merchant, period, program=program)
    return render(
        request,
        "affiliates/overview.html",
        {
            "period": period,
            "periods": periods.PERIODS,
            "stats": stats,
            "funnel": reports.funnel(request.merchant, period, stats, program=program),
            "series": series,
            "program": program,
            "programs": selectors.programs_of(request.merchant),
            "top": reports.top_affiliates(request.merchant, period, program=program),
            "promotions": selectors.pending_promotions(request.merchant),
            "steps": steps,
            "steps_left": sum(not s["done"] for s in steps),
        },
    )


def _checkout_context(merchant) -> dict:
    return {
        "site_url": django_settings.SITE_URL,
        "script_url": django_settings.SITE_URL + "/t.js",
        "public_key": merchant.public_key,
        "shop_url": (merchant.website or "https://your-shop.example").rstrip("/"),
    }


@merchant_required
def onboarding(request):
    steps = selectors.onboarding_steps(request.merchant)
    return render(
        request,
        "affiliates/onboarding.html",
        {
            "steps": {s["key"]: s for s in steps},
            "steps_left": sum(not s["done"] for s in steps),
            "program": services.default_program(request.merchant),
            "invite_form": InviteAffiliateForm(),
            **_checkout_context(request.merchant),
        },
    )


# --- program ---------------------------------------------------------------------------------------------------------


@merchant_required(manage=True)
@require_POST
def program_confirm(request):
    services.update_program(services.default_program(request.merchant))
    messages.success(request, "Program confirmed. You can change it at any time.")
    return redirect(reverse("affiliates:onboarding") + "#step-affiliate")


# --- affiliates ------------------------------------------------------------------------------------------------------


@merchant_required
def affiliate_list(request):
    q, status = request.GET.get("q", "").strip(), request.GET.get("status", "")
    program, program_code = program_of(request)
    found = selectors.search_affiliates(request.merchant, q=q, status=status, program=program)
    if program_code and program is None:
        found = found.none()
    if request.GET.get("format") == "csv":
        return exports.affiliates_csv(request.merchant, found)
    page = paginate(request, found.select_related("program"))
    period = period_of(request)
    reports.affiliate_stats(request.merchant, list(page.object_list), period)
    return render(
        request,
        "affiliates/affiliate_list.html",
        {
            "page": page,
            "q": q,
            "status": status,
            "period": period,
            "periods": periods.PERIODS,
            "status_counts": selectors.status_counts(request.merchant, program),
            "statuses": Affiliate.Status.choices,
            "program": program,
            "programs": selectors.programs_of(request.merchant),
            "invite_form": InviteAffiliateForm(),
        },
    )


@merchant_required
@require_POST
def affiliate_invite(request):
    form = InviteAffiliateForm(request.POST)
    if form.is_valid():
        try:
            affiliate = services.invite_affiliate(request.merchant, **form.cleaned_data)
        except services.AffiliateError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"Invited {affiliate.email} with the code {affiliate.code}; "
                "they have an email to set up their account.",
            )
            return redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}))
    else:
        for field, errors in form.errors.items():
            messages.error(
                request, f"{form.fields[field].label if field in form.fields else ''}: {' '.join(errors)}".lstrip(": ")
            )
    return redirect_back(request, reverse("affiliates:affiliate_list"))


@merchant_required
def affiliate_detail(request, uid):
    affiliate = get_object_or_404(
        Affiliate.objects.for_merchant(request.merchant).select_related("program", "user", "parent"), public_id=uid
    )
    form = AffiliateEditForm(
        request.POST or None,
        initial=AffiliateEditForm.initial_for(affiliate),
        currency=affiliate.program.commission_currency,
    )
    if request.method == "POST" and form.is_valid():
        data = {
            k: form.cleaned_data[k]
            for k in (
                "name",
                "code",
                "commission_type_override",
                "commission_bps_override",
                "commission_amount_override",
            )
        }
        try:
            services.update_affiliate(affiliate, **data)
        except services.AffiliateError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Affiliate saved.")
            return redirect("affiliates:affiliate_detail", uid=affiliate.public_id)
    return render(
        request,
        "affiliates/affiliate_detail.html",
        _affiliate_context(request, affiliate, form),
        status=400 if form.errors else 200,
    )


def _affiliate_context(request, affiliate, form) -> dict:
    period = period_of(request)
    merchant = request.merchant
    stats, series = reports.overview_and_series(merchant, period, affiliate=affiliate)
    return {
        "affiliate": affiliate,
        "form": form,
        "period": period,
        "periods": periods.PERIODS,
        "stats": stats,
        "series": series,
        "rule": services.commission_rule(affiliate),
        "rules_text": [rule_words.describe_rule(rule) for rule in affiliate.program.rules or []],
        "move_form": MoveAffiliateForm(initial={"program": affiliate.program.public_id}, merchant=merchant),
        "parent_form": AffiliateParentForm(
            initial={"parent": affiliate.parent.code if affiliate.parent else ""}, merchant=merchant
        ),
        "sub_affiliates": affiliate.sub_affiliates.order_by("name", "code")[:50],
        "promotions": selectors.pending_promotions(merchant, affiliate=affiliate),
        "goals": selectors.program_goals_text(affiliate.program),
        "link": exports.display_link(request.merchant, affiliate),
        "clicks": Click.objects.for_merchant(merchant).filter(affiliate=affiliate).order_by("-created_at")[:20],
        "referrals": Referral.objects.for_merchant(merchant).filter(affiliate=affiliate).order_by("-created_at")[:20],
        "commissions": Commission.objects.for_merchant(merchant)
        .filter(affiliate=affiliate)
        .order_by("-created_at")[:20],
        "payouts": Payout.objects.for_merchant(merchant).filter(affiliate=affiliate).order_by("-created_at")[:20],
        "payout_totals": reports.payout_totals(request.merchant, affiliate=affiliate),
        **attribution.affiliate_attribution(merchant, affiliate),
    }


@merchant_required
@require_POST
def affiliate_status(request, uid):
    affiliate = get_object_or_404(Affiliate.objects.for_merchant(request.merchant), public_id=uid)
    form = AffiliateStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Unknown status.")
        return redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": uid}))
    services.change_affiliate_status(affiliate, status=form.cleaned_data["status"])
    messages.success(request, f"{affiliate.name or affiliate.email} is now {affiliate.get_status_display().lower()}.")
    return redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": uid}))


@merchant_required
@require_POST
def affiliate_bulk_status(request):
    """Approve or reject the selected affiliates of the list at once (each one as `affiliate_status` would)."""
    form = AffiliateStatusForm(request.POST)
    uids = [u for u in request.POST.getlist("uid") if is_uuid(u)]
    if not form.is_valid() or not uids:
        messages.error(request, "Select affiliates and an action.")
        return redirect_back(request, reverse("affiliates:affiliate_list"))
    affiliates = list(Affiliate.objects.for_merchant(request.merchant).filter(public_id__in=uids))
    for affiliate in affiliates:
        services.change_affiliate_status(affiliate, status=form.cleaned_data["status"])
    label = dict(Affiliate.Status.choices)[form.cleaned_data["status"]].lower()
    messages.success(request, f"{len(affiliates)} affiliate{'s' if len(affiliates) != 1 else ''} {label}.")
    return redirect_back(request, reverse("affiliates:affiliate_list"))


# --- settings --------------------------------------------------------------------------------------------------------


@merchant_required
def settings(request):
    health = webhook_health(request.merchant)
    events = recent_events(request.merchant)
    return render(
        request,
        "affiliates/settings.html",
        {
            "last_event": events[0] if events else None,
            "recent_events": events,
            "health": health,
            "portal_url": django_settings.SITE_URL
            + reverse("affiliates:portal_dashboard", kwargs={"slug": request.merchant.slug}),
            **_checkout_context(request.merchant),
        },
    )
