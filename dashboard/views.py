"""The merchant dashboard: overview, onboarding, affiliates, commissions, payouts, settings (programs: programs.py).

Every view goes through `merchant_required` and fetches rows with
`for_merchant(request.merchant)`: another merchant's ids answer 404.
"""

import uuid

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from affiliates import money, rule_words, services
from affiliates.models import Affiliate, Commission, Payout, PayoutBatch, Referral
from stripe_integration.models import StripeEvent
from stripe_integration.selectors import webhook_health
from tenants.access import merchant_required
from tracking.models import Click

from . import attribution, exports, periods, reports, selectors
from .forms import (
    AffiliateEditForm,
    AffiliateStatusForm,
    InviteAffiliateForm,
    MarkPaidForm,
    MoveAffiliateForm,
    VoidCommissionForm,
)
from .templatetags.affiliate_tags import line_rows, rule_label_short

PAGE_SIZE = 50


def _paginate(request, queryset, per_page: int = PAGE_SIZE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _period(request):
    return periods.parse_period(request.GET, first_day=periods.first_day(request.merchant))


def _redirect_back(request, fallback: str):
    """Back to the page the form was on (same site only), else `fallback`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(fallback)


# --- overview and onboarding -----------------------------------------------------------------------------------------


def _program(request):
    """(the program of `?program=`, or None; the text given): an unknown id filters everything out."""
    code = request.GET.get("program", "").strip()
    return selectors.program_filter(request.merchant, code), code


@merchant_required
def overview(request):
    period = _period(request)
    steps = selectors.onboarding_steps(request.merchant)
    program, _ = _program(request)
    stats, series = reports.overview_and_series(request.merchant, period, program=program)
    return render(
        request,
        "affiliates/overview.html",
        {
            "period": period,
            "periods": periods.PERIODS,
            "stats": stats,
            "series": series,
            "program": program,
            "programs": selectors.programs_of(request.merchant),
            "top": reports.top_affiliates(request.merchant, period, program=program),
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
    program, program_code = _program(request)
    found = selectors.search_affiliates(request.merchant, q=q, status=status, program=program)
    if program_code and program is None:
        found = found.none()
    if request.GET.get("format") == "csv":
        return exports.affiliates_csv(request.merchant, found)
    page = _paginate(request, found.select_related("program"))
    period = _period(request)
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
            return _redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}))
    else:
        for field, errors in form.errors.items():
            messages.error(
                request, f"{form.fields[field].label if field in form.fields else ''}: {' '.join(errors)}".lstrip(": ")
            )
    return _redirect_back(request, reverse("affiliates:affiliate_list"))


@merchant_required
def affiliate_detail(request, uid):
    affiliate = get_object_or_404(
        Affiliate.objects.for_merchant(request.merchant).select_related("program", "user"), public_id=uid
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
    period = _period(request)
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
        return _redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": uid}))
    services.change_affiliate_status(affiliate, status=form.cleaned_data["status"])
    messages.success(request, f"{affiliate.name or affiliate.email} is now {affiliate.get_status_display().lower()}.")
    return _redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": uid}))


@merchant_required
@require_POST
def affiliate_bulk_status(request):
    """Approve or reject the selected affiliates of the list at once (each one as `affiliate_status` would)."""
    form = AffiliateStatusForm(request.POST)
    uids = [u for u in request.POST.getlist("uid") if _is_uuid(u)]
    if not form.is_valid() or not uids:
        messages.error(request, "Select affiliates and an action.")
        return _redirect_back(request, reverse("affiliates:affiliate_list"))
    affiliates = list(Affiliate.objects.for_merchant(request.merchant).filter(public_id__in=uids))
    for affiliate in affiliates:
        services.change_affiliate_status(affiliate, status=form.cleaned_data["status"])
    label = dict(Affiliate.Status.choices)[form.cleaned_data["status"]].lower()
    messages.success(request, f"{len(affiliates)} affiliate{'s' if len(affiliates) != 1 else ''} {label}.")
    return _redirect_back(request, reverse("affiliates:affiliate_list"))


# --- commissions -----------------------------------------------------------------------------------------------------


def _commission_filters(request):
    period = (
        _period(request) if (request.GET.get("period") or request.GET.get("from") or request.GET.get("to")) else None
    )
    text = request.GET.get("affiliate", "").strip()
    affiliate = None
    if text:
        match = Q(code__iexact=text) | Q(email__iexact=text)
        if _is_uuid(text):
            match |= Q(public_id=text)
        affiliate = Affiliate.objects.for_merchant(request.merchant).filter(match).first()
    status = request.GET.get("status", "")
    program, program_code = _program(request)
    qs = selectors.commission_filter(
        request.merchant, status=status, affiliate=affiliate, period=period, program=program
    )
    if (text and affiliate is None) or (program_code and program is None):
        qs = qs.none()
    return qs, {
        "period": period,
        "affiliate_text": text,
        "affiliate": affiliate,
        "status": status,
        "program": program,
        "programs": selectors.programs_of(request.merchant),
    }


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@merchant_required
def commission_list(request):
    qs, filters = _commission_filters(request)
    if request.GET.get("format") == "csv":
        return exports.commissions_csv(qs)
    try:
        page = selectors.commission_page(qs, after=request.GET.get("after", ""), before=request.GET.get("before", ""))
    except selectors.BadCursor:
        return HttpResponseBadRequest("That page link is not valid: start again from the first page of commissions.")
    _prepare_commission_rows(page.object_list)
    query = request.GET.copy()
    for key in ("after", "before", "page"):
        query.pop(key, None)
    return render(
        request,
        "affiliates/commission_list.html",
        {
            "page": page,
            **filters,
            "statuses": Commission.Status.choices,
            "periods": periods.PERIODS,
            "query": query.urlencode(),
            "void_form": VoidCommissionForm(),
            "next_url": request.get_full_path(),
            "newer_url": f"?{_with(query, before=page.newer)}" if page.newer else "",
            "older_url": f"?{_with(query, after=page.older)}" if page.older else "",
        },
    )


def _with(query, **params) -> str:
    query = query.copy()
    query.update(params)
    return query.urlencode()


_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _prepare_commission_rows(commissions) -> None:
    """Display values for each row, computed here once: 50 rows of template tags and filters (three `{% url %}`, four
    money filters and two date filters a row) were most of the page's time."""
    urls = {
        name: reverse(f"affiliates:{name}", kwargs={"code" if name != "affiliate_detail" else "uid": _PLACEHOLDER})
        for name in ("commission_approve", "commission_void", "affiliate_detail")
    }
    statuses, sources = dict(Commission.Status.choices), dict(Commission.SourceType.choices)
    owed = (Commission.Status.PENDING, Commission.Status.APPROVED)
    for c in commissions:
        code, fmt = str(c.public_id), money.format_money
        c.row = {
            "date": f"{c.created_at:%b} {c.created_at.day}, {c.created_at.year}",
            "time": f"{c.created_at:%H:%M}",
            "affiliate_url": urls["affiliate_detail"].replace(_PLACEHOLDER, str(c.affiliate.public_id)),
            "affiliate_label": c.affiliate.name or c.affiliate.email,
            "source": c.source_id if len(c.source_id) <= 28 else c.source_id[:27] + "…",
            "source_type": sources.get(c.source_type, c.source_type),
            "status_label": statuses.get(c.status, c.status),
            "hold_until": f"{c.hold_until:%b} {c.hold_until.day}",
            "payment": fmt(c.base_amount, c.currency),
            "refunded": fmt(c.refunded_amount, c.currency) if c.refunded_amount else "",
            "net": fmt(c.net_amount, c.currency),
            "amount": fmt(c.amount, c.currency) if c.reversed_amount else "",
            "approve_url": urls["commission_approve"].replace(_PLACEHOLDER, code)
            if c.status == Commission.Status.PENDING and not c.is_on_hold
            else "",
            "void_url": urls["commission_void"].replace(_PLACEHOLDER, code)
            if c.status in owed and not c.payout_id
            else "",
            "rule": rule_label_short(c),
            "program": c.program.name if c.program_id else "",
            "lines": line_rows(c),
        }


@merchant_required
@require_POST
def commission_approve(request, code):
    commission = get_object_or_404(Commission.objects.for_merchant(request.merchant), public_id=code)
    try:
        services.approve_commission(commission)
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Commission of {money.format_money(commission.net_amount, commission.currency)} approved."
        )
    return _redirect_back(request, reverse("affiliates:commission_list"))


@merchant_required
@require_POST
def commission_void(request, code):
    commission = get_object_or_404(Commission.objects.for_merchant(request.merchant), public_id=code)
    form = VoidCommissionForm(request.POST)
    try:
        if not form.is_valid():
            raise services.AffiliateError("Say why the commission is voided.")
        services.void_commission(commission, reason=form.cleaned_data["reason"])
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Commission voided.")
    return _redirect_back(request, reverse("affiliates:commission_list"))


# --- payouts ---------------------------------------------------------------------------------------------------------


@merchant_required(manage=True)
def payout_list(request):
    batches = _paginate(request, PayoutBatch.objects.for_merchant(request.merchant).order_by("-created_at", "-pk"), 10)
    selectors.annotate_batches(request.merchant, list(batches.object_list))
    program = services.default_program(request.merchant)
    return render(
        request,
        "affiliates/payout_list.html",
        {
            "batches": batches,
            "due": selectors.payable_totals(request.merchant),
            "totals": reports.payout_totals(request.merchant, currency=program.commission_currency),
            "program": program,
            "mark_form": MarkPaidForm(),
        },
    )


@merchant_required(manage=True)
@require_POST
def payout_batch_create(request):
    batch = services.create_payout_batch(request.merchant, created_by=request.user)
    if batch is None:
        messages.warning(
            request, "Nobody is due a payout yet: no affiliate's approved commissions reach the minimum payout."
        )
    else:
        messages.success(request, f"Batch created with {batch.payouts.count()} payouts. Pay them, then mark them paid.")
    return redirect("affiliates:payout_list")


@merchant_required(manage=True)
@require_POST
def payout_mark_paid(request, code):
    payout = get_object_or_404(Payout.objects.for_merchant(request.merchant), public_id=code)
    form = MarkPaidForm(request.POST)
    try:
        services.mark_payout_paid(payout, reference=form.data.get("reference", "")[:255])
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Payout of {money.format_money(payout.amount, payout.currency)} to {payout.affiliate.email} marked paid.",
        )
    return redirect("affiliates:payout_list")


@merchant_required(manage=True)
@require_POST
def payout_batch_mark_paid(request, code):
    batch = get_object_or_404(PayoutBatch.objects.for_merchant(request.merchant), public_id=code)
    count = services.mark_batch_paid(batch, reference=request.POST.get("reference", "")[:255])
    messages.success(request, f"{count} payouts marked paid; the affiliates have been emailed.")
    return redirect("affiliates:payout_list")


@merchant_required(manage=True)
def payout_batch_export(request, code, kind):
    batch = get_object_or_404(PayoutBatch.objects.for_merchant(request.merchant), public_id=code)
    if kind not in ("paypal", "generic"):
        raise Http404("Unknown export: use paypal or generic.")
    payouts = (
        Payout.objects.for_merchant(request.merchant).filter(batch=batch).select_related("affiliate").order_by("pk")
    )
    return exports.batch_csv(batch, payouts, kind, request.merchant)


# --- settings --------------------------------------------------------------------------------------------------------


@merchant_required
def settings(request):
    health = webhook_health(request.merchant)
    return render(
        request,
        "affiliates/settings.html",
        {
            "last_event": StripeEvent.objects.for_merchant(request.merchant).order_by("-received_at").first(),
            "health": health,
            "portal_url": django_settings.SITE_URL
            + reverse("affiliates:portal_dashboard", kwargs={"slug": request.merchant.slug}),
            **_checkout_context(request.merchant),
        },
    )
