"""POST /api/track/lead: a signup reported by the visitor's browser (`Afficone.signup`), with the public key.

Body: {"k": public key, "u": page URL, "r": the visitor's referral id, "e": email, "c": Stripe customer id (optional),
"x": the merchant's own user id (optional)}. Answers 200 {"lead": id} (the same id when the signup is reported again);
refused, storing nothing: an unknown key or referral id, or one past its cookie window (404), bad input or the
affiliate's own address (400), too many (429).

A browser is anybody with the public key, so only a referral id the tracker handed out counts (never an affiliate's
code), within its program's cookie window, at most LEAD_RATE_PER_REFERRAL reports an hour per referral and
LEAD_RATE_PER_VISITOR per visitor address (rate rules below), and what a lead can win is bounded by
affiliates/services/leads.py.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from afficone import ratelimit
from affiliates.models import Lead, Referral
from affiliates.services import AffiliateError, record_lead
from tenants.models import Merchant

from . import buffer
from .services import REFERRAL_RE, TrackingError, json_object, page_url, public_key

LEAD_RATE_PER_REFERRAL = 5
LEAD_RATE_PER_VISITOR = 20
LEAD_RATE_WINDOW = 3600


def referral_lead_rate() -> ratelimit.Rule:
    """Lead reports an hour per referral id; fails open like the click limit (afficone/ratelimit.py)."""
    return ratelimit.Rule(
        "tracking-lead-referral", limit=LEAD_RATE_PER_REFERRAL, window=LEAD_RATE_WINDOW, on_outage=ratelimit.Outage.OPEN
    )


def visitor_lead_rate() -> ratelimit.Rule:
    """Lead reports an hour per visitor address and public key."""
    return ratelimit.Rule(
        "tracking-lead-visitor", limit=LEAD_RATE_PER_VISITOR, window=LEAD_RATE_WINDOW, on_outage=ratelimit.Outage.OPEN
    )


@dataclass(frozen=True)
class LeadInput:
    public_key: str
    referral: str
    email: object
    customer: object
    external_id: object


def parse_lead(body: bytes) -> LeadInput:
    data = json_object(body)
    referral = data.get("r")
    if not isinstance(referral, str) or not REFERRAL_RE.match(referral):
        raise TrackingError(400, "invalid", "`r` must be the visitor's referral id.", "r")
    page_url(data.get("u"), "u", required=False)
    return LeadInput(
        public_key=public_key(data),
        referral=referral,
        email=data.get("e"),
        customer=data.get("c"),
        external_id=data.get("x"),
    )


def accept_lead(lead: LeadInput, *, ip_hash: str, now: datetime) -> Lead:
    for rule, subject in (
        (visitor_lead_rate(), f"{lead.public_key}:{ip_hash}"),
        (referral_lead_rate(), f"{lead.public_key}:{lead.referral}"),
    ):
        if not ratelimit.hit(rule, subject, now=now.timestamp()).allowed:
            raise TrackingError(429, "rate_limited", "Too many signups reported; try again later.")
    merchant_id = Merchant.objects.filter(public_key=lead.public_key).values_list("pk", flat=True).first()
    if merchant_id is None:
        raise TrackingError(
            404, "unknown_key", "No merchant has this public key; check the data-afficone attribute.", "k"
        )
    referral = _live_referral(merchant_id, lead.referral, now=now)
    if referral is None and buffer.is_enabled() and buffer.backlog():
        buffer.flush(wait=5.0)  # a referral answered moments ago may not be written yet
        referral = _live_referral(merchant_id, lead.referral, now=now)
    if referral is None:
        raise TrackingError(404, "unknown_referral", "No live referral has this id.", "r")
    try:
        found, _created = record_lead(
            referral, email=lead.email, customer=lead.customer, external_id=lead.external_id, origin=Lead.Origin.BROWSER
        )
    except AffiliateError as exc:
        status = 429 if exc.code == "too_many_leads" else 400
        field = {"email": "e", "customer": "c", "external_id": "x", "referral": "r"}.get(exc.field or "", exc.field)
        raise TrackingError(status, exc.code or "invalid", str(exc), field) from None
    return found


def _live_referral(merchant_id: int, rid: str, *, now: datetime) -> Referral | None:
    referral = Referral.objects.for_merchant(merchant_id).filter(rid=rid).select_related("affiliate__program").first()
    if referral is None or referral.created_at < now - timedelta(days=referral.affiliate.program.cookie_days):
        return None
    return referral
