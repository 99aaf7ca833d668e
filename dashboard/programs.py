"""The dashboard's programs: the list, a program's page (its settings, the rule editor and the preview), archiving,
the default, and moving an affiliate to another program.

Views as in dashboard/views.py: `merchant_required`, rows fetched through `for_merchant(request.merchant)` (another
merchant's program answers 404), one service call per write.
"""

from django.conf import settings as django_settings
from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from affiliates import rule_words, services
from affiliates.models import Affiliate, Program, TierPromotion
from tenants.access import merchant_required

from . import selectors
from .forms import AffiliateParentForm, MoveAffiliateForm, ProgramForm, ProgramStatusForm
from .pages import redirect_back
from .rule_forms import PreviewForm, RuleFormSet, rows_from_rules
from .tier_forms import BonusFormSet, NextTierForm, rows_from_bonuses


def signup_url(program: Program, merchant) -> str:
    """The program's public signup page (the default program's is also at /p/<slug>/join/)."""
    name, kwargs = "affiliates:portal_program_signup", {"slug": merchant.slug, "program": program.slug}
    if program.is_default:
        name, kwargs = "affiliates:portal_signup", {"slug": merchant.slug}
    return django_settings.SITE_URL + reverse(name, kwargs=kwargs)


@merchant_required
def program_list(request):
    programs = list(
        selectors.programs_of(request.merchant).annotate(
            affiliate_count=Count("affiliates", filter=~Q(affiliates__status=Affiliate.Status.REJECTED))
        )
    )
    for program in programs:
        program.signup_url = signup_url(program, request.merchant)
    return render(request, "affiliates/program_list.html", {"programs": programs, "status_form": ProgramStatusForm()})


@merchant_required(manage=True)
def programs(request):
    """The default program's page (/program/), as before there were several."""
    return _program_page(request, services.default_program(request.merchant))


@merchant_required(manage=True)
def program_create(request):
    return _program_page(request, None)


@merchant_required(manage=True)
def program_edit(request, code):
    return _program_page(request, get_object_or_404(Program.objects.for_merchant(request.merchant), public_id=code))


def _new_program(merchant) -> Program:
    """An unsaved program with the default settings, in the currency of the merchant's default program."""
    currency = services.default_program(merchant).commission_currency
    return Program(merchant=merchant, name="", slug="", is_default=False, commission_currency=currency, rules=[])


def _program_page(request, program: Program | None):
    """A program's settings and rules, saved by "Save program"; "Preview" computes what a payment would earn under
    the form's (unsaved) settings and rules, with the same function a real payment uses, and saves nothing."""
    merchant = request.merchant
    shown = program or _new_program(merchant)
    rows = rows_from_rules(shown.rules or [])
    posted = request.method == "POST"
    action = request.POST.get("action", "save") if posted else ""
    form = ProgramForm(request.POST or None, initial=ProgramForm.initial_for(shown))
    rule_rows = RuleFormSet(
        request.POST if posted and rows is not None and "rules-TOTAL_FORMS" in request.POST else None,
        initial=rows or [],
        prefix="rules",
        form_kwargs={"currency": shown.commission_currency},
    )
    tier_form = NextTierForm(
        request.POST if posted and "tier-program" in request.POST else None,
        initial=NextTierForm.initial_for(shown),
        prefix="tier",
        merchant=merchant,
        program=program,
    )
    bonus_rows = BonusFormSet(
        request.POST if posted and "bonuses-TOTAL_FORMS" in request.POST else None,
        initial=rows_from_bonuses(shown.bonuses or []),
        prefix="bonuses",
        form_kwargs={"currency": shown.commission_currency},
    )
    preview_form = PreviewForm(
        request.POST if action == "preview" else None,
        initial={"preview_currency": shown.commission_currency, "preview_payment": "new"},
    )
    preview = ""
    parts_valid = all(not part.is_bound or part.is_valid() for part in (rule_rows, tier_form, bonus_rows))
    if posted and form.is_valid() and parts_valid:
        changes = dict(form.cleaned_data["changes"])
        if rule_rows.is_bound:
            changes["rules"] = rule_rows.rules
        if action == "preview":
            if preview_form.is_valid():
                preview = _preview(merchant, shown, changes, preview_form.cleaned_data)
        else:
            if tier_form.is_bound:
                changes["next_tier"] = tier_form.cleaned_data["next_tier"]
            if bonus_rows.is_bound:
                changes["bonuses"] = bonus_rows.bonuses
            try:
                if program is None:
                    program = services.create_program(merchant, **changes)
                else:
                    program = services.update_program(program, **changes)
            except services.AffiliateError as exc:
                if (exc.field or "").startswith("next_tier"):
                    tier_form.add_error(None, str(exc))
                else:
                    form.add_error("slug" if exc.field == "slug" else None, str(exc))
            else:
                messages.success(request, "Program saved. New commissions follow these rules.")
                if request.path == reverse("affiliates:programs"):
                    return redirect("affiliates:programs")
                return redirect("affiliates:program_edit", code=program.public_id)
    has_errors = (
        form.errors
        or any(part.is_bound and not part.is_valid() for part in (rule_rows, tier_form, bonus_rows))
        or preview_form.errors
    )
    return render(
        request,
        "affiliates/program.html",
        {
            "program": program,
            "form": form,
            "rule_rows": rule_rows,
            "tier_form": tier_form,
            "bonus_rows": bonus_rows,
            "rules_editable": rows is not None,
            "rules_text": [rule_words.describe_rule(rule) for rule in shown.rules or []],
            "preview_form": preview_form,
            "preview": preview,
            "rule_products": _rule_ids(shown.rules or []),
            "affiliates": Affiliate.objects.for_merchant(merchant).order_by("name", "email")[:200],
            "portal_url": signup_url(program, merchant) if program else "",
        },
        status=400 if has_errors else 200,
    )


def _rule_ids(rules: list[dict]) -> list[str]:
    """The products and prices the rules name, for the preview's suggestions."""
    found: dict[str, None] = {}
    for rule in rules:
        for key in ("product", "price"):
            if key in rule["match"]:
                found[rule["match"][key]] = None
    return list(found)


def _preview(merchant, shown: Program, changes: dict, data: dict) -> str:
    """The preview's sentence: the program as the form has it (unsaved), the payment the preview form describes."""
    trial = Program(**{f.attname: getattr(shown, f.attname) for f in Program._meta.concrete_fields})
    for name, value in changes.items():
        setattr(trial, name, value)
    text = (data.get("preview_affiliate") or "").strip()
    affiliate = None
    if text:
        affiliate = (
            Affiliate.objects.for_merchant(merchant).filter(Q(code__iexact=text) | Q(email__iexact=text)).first()
        )
        if affiliate is None:
            return f"No affiliate has the code or email “{text}”."
    product = (data.get("preview_product") or "").strip()
    price = (data.get("preview_price") or "").strip()
    amount, currency = data["amount_minor"], data["preview_currency"]
    pricing, fallback = services.preview_payment(
        trial,
        affiliate=affiliate,
        amount=amount,
        currency=currency,
        product=product,
        price=price,
        is_recurring=data.get("preview_payment") == "recurring",
    )
    who = (affiliate.name or affiliate.email) if affiliate else "an affiliate"
    return rule_words.preview_sentence(
        pricing, trial.rules or [], fallback, amount=amount, currency=currency, product=product or price, who=who
    )


@merchant_required(manage=True)
@require_POST
def program_status(request, code):
    program = get_object_or_404(Program.objects.for_merchant(request.merchant), public_id=code)
    form = ProgramStatusForm(request.POST)
    try:
        if not form.is_valid():
            raise services.AffiliateError("Unknown status.")
        program = services.set_program_status(program, form.cleaned_data["status"])
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{program.name} is {program.get_status_display().lower()}.")
    return redirect("affiliates:program_list")


@merchant_required(manage=True)
@require_POST
def program_make_default(request, code):
    program = get_object_or_404(Program.objects.for_merchant(request.merchant), public_id=code)
    try:
        services.set_default_program(program)
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{program.name} is now the default program: new affiliates join it.")
    return redirect("affiliates:program_list")


@merchant_required
@require_POST
def affiliate_parent(request, uid):
    """Names (or removes) the affiliate this one joined through: in two-tier programs it earns a share of this one's
    commissions from now on."""
    affiliate = get_object_or_404(Affiliate.objects.for_merchant(request.merchant), public_id=uid)
    form = AffiliateParentForm(request.POST, merchant=request.merchant)
    try:
        if not form.is_valid():
            raise services.AffiliateError(form.errors["parent"][0])
        affiliate = services.set_parent(affiliate, form.cleaned_data["parent"])
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        parent = affiliate.parent
        messages.success(
            request,
            f"{affiliate.name or affiliate.email} was referred by {parent.name or parent.email}."
            if parent
            else f"{affiliate.name or affiliate.email} has no referring affiliate now.",
        )
    return redirect("affiliates:affiliate_detail", uid=uid)


@merchant_required
@require_POST
def affiliate_program(request, uid):
    affiliate = get_object_or_404(Affiliate.objects.for_merchant(request.merchant), public_id=uid)
    form = MoveAffiliateForm(request.POST, merchant=request.merchant)
    if not form.is_valid():
        messages.error(request, "Choose one of your active programs.")
        return redirect("affiliates:affiliate_detail", uid=uid)
    try:
        affiliate = services.move_affiliate(affiliate, form.cleaned_data["program"])
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"{affiliate.name or affiliate.email} is in {affiliate.program.name}: payments from now on earn by its "
            "rules; commissions already recorded keep theirs.",
        )
    return redirect("affiliates:affiliate_detail", uid=uid)


# --- moves up a tier waiting for the merchant -------------------------------------------------------------------


@merchant_required
@require_POST
def promotion_approve(request, code):
    promotion = get_object_or_404(
        TierPromotion.objects.for_merchant(request.merchant).select_related("affiliate", "to_program"), public_id=code
    )
    try:
        services.approve_promotion(promotion, decided_by=request.user)
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        who = promotion.affiliate.name or promotion.affiliate.email
        messages.success(request, f"{who} is in {promotion.to_program.name} now, and has been told by email.")
    return redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": promotion.affiliate.public_id}))


@merchant_required
@require_POST
def promotion_dismiss(request, code):
    promotion = get_object_or_404(
        TierPromotion.objects.for_merchant(request.merchant).select_related("affiliate", "from_program"),
        public_id=code,
    )
    try:
        services.dismiss_promotion(promotion, decided_by=request.user)
    except services.AffiliateError as exc:
        messages.error(request, str(exc))
    else:
        who = promotion.affiliate.name or promotion.affiliate.email
        messages.success(
            request, f"{who} stays in {promotion.from_program.name}; this move will not be proposed again."
        )
    return redirect_back(request, reverse("affiliates:affiliate_detail", kwargs={"uid": promotion.affiliate.public_id}))
