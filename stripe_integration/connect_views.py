"""The Stripe page: connect with Stripe (start OAuth, finish it, disconnect) and check for missed events. The logic
lives in connect.py and reconciliation.py."""

import re

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from tenants.access import merchant_required

from .connect import (
    ConnectError,
    abandon_stripe_connect,
    begin_stripe_connect,
    complete_stripe_connect,
    disconnect_stripe,
    take_pending_connection,
)
from .models import StripeSync
from .reconciliation import SyncError, request_stripe_sync
from .selectors import webhook_health

ERROR_CODE = re.compile(r"[a-z_]{1,40}")
DECLINED = "You declined the connection on Stripe, so nothing was connected. Connect whenever you are ready."


def _safe_next(request, url: str | None) -> str:
    """`url` if it points back into this site, else "" (no open redirect through `next`)."""
    allowed = {request.get_host()}
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts=allowed, require_https=request.is_secure()):
        return url
    return ""


def _connection_page(request, *, error: str = "", status: int = 200):
    context = {"merchant": request.merchant, "webhook_health": webhook_health(request.merchant), "error": error}
    return render(request, "stripe_integration/connection.html", context, status=status)


@require_GET
@merchant_required
def connection(request):
    return _connection_page(request)


@require_GET
@never_cache
@merchant_required(manage=True)
def connect(request):
    callback = request.build_absolute_uri(reverse("stripe_integration:oauth_callback"))
    authorize_url = begin_stripe_connect(
        request.session,
        merchant=request.merchant,
        user=request.user,
        redirect_uri=callback,
        next_url=_safe_next(request, request.GET.get("next")),
        write=request.GET.get("access") == "write",
    )
    return redirect(authorize_url)


@require_GET
@never_cache
@merchant_required(manage=True)
def oauth_callback(request):
    if "error" in request.GET:  # the user clicked "Deny" (access_denied) or Stripe refused the request
        pending = abandon_stripe_connect(request.session)
        error = request.GET["error"]
        if error == "access_denied":
            messages.warning(request, DECLINED)
        else:  # show Stripe's error code, never free text from the URL
            code = error if ERROR_CODE.fullmatch(error) else "unknown"
            messages.error(
                request, f"Stripe did not connect the account (error: {code}). Nothing was connected; please try again."
            )
        return redirect(pending.next_url or "stripe_integration:connection")
    try:
        pending = take_pending_connection(
            request.session, request.GET.get("state", ""), merchant=request.merchant, user=request.user
        )
        merchant = complete_stripe_connect(request.merchant, code=request.GET.get("code", ""))
    except ConnectError as exc:
        return _connection_page(request, error=str(exc), status=exc.status)
    name = merchant.stripe_account_name or merchant.stripe_account_id
    messages.success(request, f"Connected to the Stripe account {name}.")
    return redirect(pending.next_url or "stripe_integration:connection")


@require_POST
@merchant_required(manage=True)
def disconnect(request):
    try:
        disconnect_stripe(request.merchant)
    except ConnectError as exc:
        return _connection_page(request, error=str(exc), status=exc.status)
    messages.success(
        request,
        "Stripe is disconnected. Afficone no longer reads your Stripe account; "
        "payments made from now on earn no commissions until you connect again.",
    )
    return redirect(_safe_next(request, request.POST.get("next")) or "stripe_integration:connection")


@require_POST
@merchant_required(manage=True)
def sync(request):
    """Check for missed events: a reconciliation run of the current merchant's account, in a Celery task."""
    try:
        run, created = request_stripe_sync(
            request.merchant, trigger=StripeSync.Trigger.BUTTON, requested_by=request.user
        )
    except SyncError as exc:
        messages.error(request, str(exc))
    else:
        since = dateformat.format(run.since, "j M Y")
        if created:
            messages.success(
                request,
                f"Checking Stripe for events the webhook missed since {since}. It takes a moment: "
                "reload this page to see what it found.",
            )
        else:
            messages.info(request, f"A check for events missed since {since} is already running.")
    return redirect(_safe_next(request, request.POST.get("next")) or "stripe_integration:connection")
