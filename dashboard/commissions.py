"""The commissions list (filters, cursor pages, CSV) and approving or voiding one commission."""

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from affiliates import money, services
from affiliates.models import Affiliate, Commission
from tenants.access import merchant_required

from . import exports, periods, selectors
from .forms import VoidCommissionForm
from .pages import is_uuid, period_of, program_of, redirect_back
from .templatetags.affiliate_tags import line_rows, rule_label_short


def _commission_filters(request):
    period = (
        period_of(request) if (request.GET.get("period") or request.GET.get("from") or request.GET.get("to")) else None
    )
    text = request.GET.get("affiliate", "").strip()
    affiliate = None
    if text:
        match = Q(code__iexact=text) | Q(email__iexact=text)
        if is_uuid(text):
            match |= Q(public_id=text)
        affiliate = Affiliate.objects.for_merchant(request.merchant).filter(match).first()
    status = request.GET.get("status", "")
    program, program_code = program_of(request)
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
    return redirect_back(request, reverse("affiliates:commission_list"))


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
    return redirect_back(request, reverse("affiliates:commission_list"))
