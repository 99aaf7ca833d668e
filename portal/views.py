"""The affiliate portal at /p/<merchant slug>/.

Signup, login, password reset, dashboard, commissions, payouts, settings.

Affiliates log in as `tenants.User` (one global identity per email). A portal
request is let in only if that user has an Affiliate of the merchant named in
the URL; `request.affiliate` is set and every query is filtered by it and by
its merchant, so an affiliate sees only their own rows of that merchant.
"""

from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from affiliates import invites, services
from affiliates.links import referral_link
from affiliates.models import Affiliate, Commission, Payout
from affiliates.rule_words import earnings_table
from dashboard import periods, reports, selectors
from dashboard.programs import signup_url
from tenants.forms import LoginForm, ResetPasswordForm
from tenants.models import Merchant
from tracking.proxy import COOKIE_NAME

from .forms import PayoutSettingsForm, PortalSignupForm, SetPasswordForInviteForm


def _merchant(slug: str) -> Merchant:
    return get_object_or_404(Merchant, slug=slug)


def affiliate_required(view):
    """Sets request.portal_merchant and request.affiliate (this user's affiliate of that merchant).

    A visitor without one is sent to the portal's login."""

    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        merchant = _merchant(slug)
        request.portal_merchant = merchant
        if not request.user.is_authenticated:
            login_url = reverse("affiliates:portal_login", kwargs={"slug": slug})
            return redirect(f"{login_url}?{urlencode({'next': request.get_full_path()})}")
        request.affiliate = (
            Affiliate.objects.for_merchant(merchant)
            .select_related("program", "parent")
            .filter(user=request.user)
            .first()
        )
        if request.affiliate is None:
            return render(request, "portal/not_affiliate.html", {"merchant": merchant}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _context(request, **extra) -> dict:
    return {"merchant": request.portal_merchant, "affiliate": request.affiliate, **extra}


def _same_site(merchant: Merchant, page: str) -> bool:
    if not merchant.website:
        return True
    site = urlsplit(merchant.website).hostname or ""
    host = urlsplit(page if "://" in page else "https://" + page).hostname or ""
    root = ".".join(site.split(".")[-2:])
    return host == root or host.endswith("." + root)


@affiliate_required
def portal_dashboard(request):
    merchant, affiliate = request.portal_merchant, request.affiliate
    period = periods.parse_period(request.GET, first_day=affiliate.created_at.date())
    page = request.GET.get("page_url", "").strip()
    built = referral_link(page, affiliate.code) if page else ""
    stats, series = reports.overview_and_series(merchant, period, affiliate=affiliate)
    return render(
        request,
        "portal/dashboard.html",
        _context(
            request,
            period=period,
            periods=periods.PERIODS,
            link=referral_link(merchant.website, affiliate.code),
            page_url=page,
            built_link=built,
            built_off_site=bool(page) and not _same_site(merchant, page),
            stats=stats,
            funnel=reports.funnel(merchant, period, stats, affiliate=affiliate),
            series=series,
            rule=services.commission_rule(affiliate),
            earnings=earnings_table(affiliate.program.rules, services.commission_rule(affiliate)),
            recent=Commission.objects.for_merchant(merchant).filter(affiliate=affiliate).order_by("-created_at")[:5],
            payouts=reports.payout_totals(merchant, affiliate=affiliate),
            site_host=urlsplit(merchant.website).hostname if merchant.website else "",
            recruit_link=_recruit_link(merchant, affiliate),
            sub_affiliates=affiliate.sub_affiliates.count(),
        ),
    )


def _recruit_link(merchant: Merchant, affiliate: Affiliate) -> str:
    """The affiliate's own program's signup page with its code, where that program is two-tier and open: who joins
    through it becomes its sub-affiliate."""
    program = affiliate.program
    if not (program.two_tier and program.signup_open and not program.is_archived and affiliate.is_approved):
        return ""
    return f"{signup_url(program, merchant)}?{urlencode({'ref': affiliate.code})}"


@affiliate_required
def portal_commissions(request):
    merchant, affiliate = request.portal_merchant, request.affiliate
    status = request.GET.get("status", "")
    qs = selectors.commission_filter(merchant, status=status, affiliate=affiliate).order_by("-created_at", "-pk")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/commissions.html",
        _context(request, page=page, status=status, statuses=Commission.Status.choices),
    )


@affiliate_required
def portal_payouts(request):
    merchant, affiliate = request.portal_merchant, request.affiliate
    qs = Payout.objects.for_merchant(merchant).filter(affiliate=affiliate).order_by("-created_at", "-pk")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/payouts.html",
        _context(
            request,
            page=page,
            totals=reports.payout_totals(merchant, affiliate=affiliate),
            owed=reports.commission_totals(
                merchant,
                periods.parse_period({"period": "all"}, first_day=affiliate.created_at.date()),
                affiliate=affiliate,
                currency=affiliate.program.commission_currency,
            ),
        ),
    )


@affiliate_required
def portal_settings(request):
    affiliate = request.affiliate
    initial = {
        k: getattr(affiliate, k) for k in ("payout_method", "paypal_email", "bank_details", "notify_on_commission")
    }
    form = PayoutSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_payout_settings(affiliate, **form.cleaned_data)
        except services.AffiliateError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Payout settings saved.")
            return redirect("affiliates:portal_settings", slug=request.portal_merchant.slug)
    return render(request, "portal/settings.html", _context(request, form=form), status=400 if form.errors else 200)


# --- public pages --------------------------------------------------------------------------------------------------


def portal_signup(request, slug, program=None):
    """A program's public signup page: the default program's at /p/<slug>/join/, any other's at
    /p/<slug>/join/<program slug>/ (an unknown or archived program answers 404)."""
    merchant = _merchant(slug)
    chosen = services.signup_program(merchant, program)
    if chosen is None:
        raise Http404("No such program.")
    form = PortalSignupForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    if request.method == "POST" and chosen.signup_open and form.is_valid():
        try:
            affiliate, user = services.register_affiliate(
                merchant, program=chosen, referred_by=_referred_by(request), **form.cleaned_data
            )
        except services.AffiliateError as exc:
            form.add_error("password" if "password" in str(exc) else None, str(exc))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            if affiliate.is_approved:
                messages.success(request, f"Welcome! You are an affiliate of {merchant.name}: share your link below.")
            return redirect("affiliates:portal_dashboard", slug=slug)
    status = 200
    if request.method == "POST":
        status = 403 if not chosen.signup_open else 400
    return render(
        request,
        "portal/signup.html",
        {
            "merchant": merchant,
            "program": chosen,
            "form": form,
            "rule": services.program_rule(chosen),
            "earnings": earnings_table(chosen.rules, services.program_rule(chosen)),
        },
        status=status,
    )


def _referred_by(request) -> str:
    """Whom the visitor came through: the page's `?ref=CODE` (or `via`, `aff`, as on referral links), else the
    referral id in the tracker's `afficone_ref` cookie, where this page can read it (the portal on the merchant's
    domain)."""
    for name in ("ref", "via", "aff"):
        if request.GET.get(name):
            return request.GET[name]
    return request.COOKIES.get(COOKIE_NAME, "")


def portal_login(request, slug):
    merchant = _merchant(slug)
    if (
        request.method == "GET"
        and request.user.is_authenticated
        and Affiliate.objects.for_merchant(merchant).filter(user=request.user).exists()
    ):
        return redirect("affiliates:portal_dashboard", slug=slug)  # already logged in as one of its affiliates
    form = LoginForm(request, data=request.POST or None)  # the dashboard's login: per-account throttling included
    if request.method == "POST" and form.is_valid():
        login(request, form.get_user())
        target = request.POST.get("next") or request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("affiliates:portal_dashboard", kwargs={"slug": slug})
        return redirect(target)
    return render(
        request,
        "portal/login.html",
        {"merchant": merchant, "form": form, "next": request.GET.get("next", "")},
        status=400 if form.errors else 200,
    )


@require_POST
def portal_logout(request, slug):
    merchant = _merchant(slug)
    logout(request)
    return redirect("affiliates:portal_login", slug=merchant.slug)


def portal_accept_invite(request, slug, token):
    merchant = _merchant(slug)
    affiliate = invites.affiliate_for_invite(merchant, token)
    if affiliate is None:
        return render(request, "portal/invite_invalid.html", {"merchant": merchant}, status=404)
    form = SetPasswordForInviteForm(request.POST or None)
    if request.method == "POST":
        try:
            _, user = services.accept_affiliate_invite(affiliate, password=request.POST.get("password", ""))
        except services.AffiliateError as exc:
            form.is_valid()
            form.add_error("password", str(exc))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to the {merchant.name} affiliate program.")
            return redirect("affiliates:portal_dashboard", slug=slug)
    return render(
        request,
        "portal/accept_invite.html",
        {"merchant": merchant, "invited": affiliate, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def portal_password_reset(request, slug):
    merchant = _merchant(slug)
    return auth_views.PasswordResetView.as_view(
        template_name="portal/password_reset.html",
        email_template_name="portal/password_reset_email.txt",
        subject_template_name="portal/password_reset_subject.txt",
        success_url=reverse("affiliates:portal_password_reset_done", kwargs={"slug": slug}),
        extra_context={"merchant": merchant},
        extra_email_context={"merchant": merchant},
    )(request)


def portal_password_reset_done(request, slug):
    return render(request, "portal/password_reset_done.html", {"merchant": _merchant(slug)})


def portal_password_reset_confirm(request, slug, uidb64, token):
    merchant = _merchant(slug)
    return auth_views.PasswordResetConfirmView.as_view(
        template_name="portal/password_reset_confirm.html",
        form_class=ResetPasswordForm,
        success_url=reverse("affiliates:portal_login", kwargs={"slug": slug}) + "?reset=1",
        extra_context={"merchant": merchant},
    )(request, uidb64=uidb64, token=token)
