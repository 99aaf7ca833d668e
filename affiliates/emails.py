"""Emails to affiliates and merchants (Django's mail; the console backend in development)."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from tenants.models import Membership

from . import money, rule_words
from .models import Affiliate, Commission, CommissionType, Payout, RuleSource, TierPromotion
from .rules import Rule


def _send(template: str, context: dict, to: list[str]) -> None:
    subject = render_to_string(f"emails/{template}_subject.txt", context).strip()
    body = render_to_string(f"emails/{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)


def portal_url(merchant, name: str = "affiliates:portal_dashboard") -> str:
    return settings.SITE_URL + reverse(name, kwargs={"slug": merchant.slug})


def send_new_commission(commission: Commission) -> None:
    affiliate = commission.affiliate
    if not affiliate.notify_on_commission:
        return
    _send(
        "new_commission",
        {
            "affiliate": affiliate,
            "merchant": commission.merchant,
            "amount": money.format_money(commission.amount, commission.currency),
            "portal_url": portal_url(commission.merchant),
            "is_two_tier": commission.source_type == Commission.SourceType.TWO_TIER,
        },
        [affiliate.email],
    )


def send_payout_sent(payout: Payout) -> None:
    _send(
        "payout_sent",
        {
            "affiliate": payout.affiliate,
            "merchant": payout.merchant,
            "amount": money.format_money(payout.amount, payout.currency),
            "payout": payout,
            "portal_url": portal_url(payout.merchant),
        },
        [payout.affiliate.email],
    )


def send_affiliate_approved(affiliate: Affiliate) -> None:
    _send(
        "affiliate_approved",
        {"affiliate": affiliate, "merchant": affiliate.merchant, "portal_url": portal_url(affiliate.merchant)},
        [affiliate.email],
    )


def send_new_application(affiliate: Affiliate) -> None:
    """To the merchant's owners and admins."""
    recipients = list(
        Membership.objects.filter(
            merchant=affiliate.merchant, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN]
        ).values_list("user__email", flat=True)
    )
    if not recipients:
        return
    _send(
        "new_application",
        {
            "affiliate": affiliate,
            "merchant": affiliate.merchant,
            "review_url": settings.SITE_URL
            + reverse("affiliates:affiliate_detail", kwargs={"uid": affiliate.public_id}),
        },
        recipients,
    )


def send_affiliate_invited(affiliate: Affiliate, *, token: str) -> None:
    """`token` comes from affiliates.invites.invite_token (the task makes it when it sends)."""
    accept_url = settings.SITE_URL + reverse(
        "affiliates:portal_accept_invite", kwargs={"slug": affiliate.merchant.slug, "token": token}
    )
    _send(
        "affiliate_invited",
        {"affiliate": affiliate, "merchant": affiliate.merchant, "accept_url": accept_url},
        [affiliate.email],
    )


def send_affiliate_promoted(promotion: TierPromotion) -> None:
    """The affiliate moved up to the program's next tier: what it reached, and what payments earn from now on."""
    program = promotion.to_program
    if program.commission_type == CommissionType.FIXED:
        rule = Rule(CommissionType.FIXED, program.commission_amount, program.commission_currency, RuleSource.PROGRAM)
    else:
        rule = Rule(CommissionType.PERCENT, program.commission_bps, "", RuleSource.PROGRAM)
    _send(
        "affiliate_promoted",
        {
            "affiliate": promotion.affiliate,
            "merchant": promotion.merchant,
            "program": program,
            "reason": promotion.reason,
            "earns": rule_words.flat_text(rule),
            "has_rules": bool(program.rules),
            "portal_url": portal_url(promotion.merchant),
        },
        [promotion.affiliate.email],
    )
