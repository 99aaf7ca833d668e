"""Leads: the referral bound to an email (and maybe a Stripe customer id) by a signup (README, "Leads").

`record_lead` is the one way in, for the browser (`Afficone.signup`, tracking/) and the merchant's server (the
REST API); `matching_lead` picks the lead a Stripe customer appearing later binds to (stripe_integration/services/
leads.py does the binding). What keeps an affiliate from harvesting credit for people it never referred:

- a lead only ever binds a customer that Stripe says was *created* within the program's cookie window after the lead
  (less a short grace for a backend that creates the customer in the signup request itself), never one that already
  existed or is already bound to a referral (the binding is permanent, first link wins);
- a browser lead needs a referral id the tracker handed out (a click), names at most MAX_EMAILS_PER_REFERRAL
  addresses, and is rate limited per referral and per visitor address (tracking/services.py);
- an affiliate's own address is refused (the self-referral rule), and a server lead is trusted before a browser lead
  for the same address, the earliest of each first.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q

from ..models import Lead, Referral
from ..signals import lead_created, send_for
from .errors import AffiliateError

MAX_EMAILS_PER_REFERRAL = 3
# A customer created this long before its lead still matches it: the merchant's backend may create the Stripe
# customer in the very request whose page then calls Afficone.signup.
GRACE = timedelta(minutes=30)


def email_key(value: str) -> str:
    """How leads compare addresses: trimmed and lower-cased; `maya+shop@example.com` stays a different address from
    `maya@example.com` (mail providers differ on what a plus means, and Stripe's customers keep the address as
    typed)."""
    return (value or "").strip().lower()


def normalize_email(value: object) -> str:
    """A lead's address as stored (`email_key`), checked to be one."""
    if not isinstance(value, str) or not value.strip():
        raise AffiliateError("Give the email address the visitor signed up with.", field="email", code="invalid")
    email = email_key(value)
    try:
        validate_email(email)
    except ValidationError:
        raise AffiliateError("That is not an email address.", field="email", code="invalid") from None
    if len(email) > 254:
        raise AffiliateError("An email address has at most 254 characters.", field="email", code="invalid")
    return email


def _clean_id(value: object, field: str, *, prefix: str = "") -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 255 or (prefix and not value.startswith(prefix)):
        hint = f" starting with {prefix}" if prefix else ""
        raise AffiliateError(f"`{field}` must be a string of at most 255 characters{hint}.", field=field)
    return value.strip()


def record_lead(
    referral: Referral, *, email: object, customer: object = None, external_id: object = None, origin: str
) -> tuple[Lead, bool]:
    """The lead of `referral` for `email`, and whether it is new (the same signup reported again changes nothing
    but filling in a customer id or external id it lacked). Raises AffiliateError for bad input, the affiliate's own
    address, an affiliate not approved, or a browser referral that already named MAX_EMAILS_PER_REFERRAL others."""
    address = normalize_email(email)
    customer_id = _clean_id(customer, "customer", prefix="cus_")
    external = _clean_id(external_id, "external_id")
    affiliate = referral.affiliate
    if not affiliate.is_approved:
        raise AffiliateError("This affiliate is not approved.", field="referral", code="affiliate_not_approved")
    if affiliate.is_self_referral(address):
        raise AffiliateError("An affiliate cannot be its own lead.", field="email", code="self_referral")
    with transaction.atomic():
        existing = Lead.objects.select_for_update().filter(referral=referral, email=address).first()
        if existing is not None:
            fill = {}
            if customer_id and not existing.stripe_customer_id:
                fill["stripe_customer_id"] = customer_id
            if external and not existing.external_id:
                fill["external_id"] = external
            if fill:
                Lead.objects.filter(pk=existing.pk).update(**fill)
                existing.refresh_from_db()
            return existing, False
        if origin == Lead.Origin.BROWSER and (
            Lead.objects.filter(referral=referral).count() >= MAX_EMAILS_PER_REFERRAL
        ):
            raise AffiliateError(
                f"This referral already signed up {MAX_EMAILS_PER_REFERRAL} addresses.",
                field="email",
                code="too_many_leads",
            )
        try:
            with transaction.atomic():
                lead = Lead.objects.create(
                    merchant_id=referral.merchant_id,
                    referral=referral,
                    email=address,
                    stripe_customer_id=customer_id,
                    external_id=external,
                    origin=origin,
                )
        except IntegrityError:  # the same signup, reported twice at once
            return Lead.objects.get(referral=referral, email=address), False
    send_for(lead_created, lead)
    return lead, True


def matching_lead(merchant_id: int, *, email: str, customer_id: str, created: datetime) -> Lead | None:
    """The lead that a Stripe customer (`customer_id`, `email`) created at `created` binds to: not yet bound, made at
    most the program's cookie days before (and GRACE after) the customer; a server lead before a browser lead, the
    earliest first. One bare indexed query when no lead has the address or customer (what every customer event of an
    unreferred customer pays); the candidates' referrals are read only when there are some. The lead returned holds
    its id, referral (with affiliate and program), origin and time."""
    address = email_key(email)
    if not address and not customer_id:
        return None
    # By address or customer only, which their indexes find; the window is checked below (a time condition here let
    # the planner walk the merchant's leads by date instead).
    match = Q(email=address) if address else Q()
    if customer_id:
        match = match | Q(stripe_customer_id=customer_id) if address else Q(stripe_customer_id=customer_id)
    rows = sorted(
        (origin != Lead.Origin.SERVER, made, pk, referral_id)
        for pk, referral_id, made, origin in Lead.objects.filter(
            match, merchant_id=merchant_id, bound_at=None
        ).values_list("pk", "referral_id", "created_at", "origin")[:20]
        if made - GRACE <= created
    )
    for server_first, made, pk, referral_id in rows:  # rarely more than one: only then are referrals read
        referral = Referral.objects.select_related("affiliate__program").get(pk=referral_id)
        if created <= made + timedelta(days=referral.affiliate.program.cookie_days) and referral.affiliate.is_approved:
            lead = Lead(
                pk=pk,
                merchant_id=merchant_id,
                referral=referral,
                created_at=made,
                origin=Lead.Origin.BROWSER if server_first else Lead.Origin.SERVER,
            )
            return lead
    return None


def mark_lead_bound(lead: Lead, *, customer_id: str, at: datetime) -> None:
    Lead.objects.filter(pk=lead.pk, bound_at=None).update(bound_customer_id=customer_id, bound_at=at)
