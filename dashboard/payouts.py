"""Payouts: the batches, creating one, marking payouts paid, and the batch's CSV exports."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from affiliates import money, services
from affiliates.models import Payout, PayoutBatch
from tenants.access import merchant_required

from . import exports, reports, selectors
from .forms import MarkPaidForm
from .pages import paginate


@merchant_required(manage=True)
def payout_list(request):
    batches = paginate(request, PayoutBatch.objects.for_merchant(request.merchant).order_by("-created_at", "-pk"), 10)
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
