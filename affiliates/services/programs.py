"""Programs (campaigns): creating and editing them, archiving, the default, and moving affiliates between them.

A merchant has any number of programs and exactly one default, the program new affiliates join unless told
otherwise (a partial unique index holds "at most one"; `set_default_program` moves the flag in one transaction, and
the default can be neither archived nor left without a successor). An archived program takes no new affiliates and
has no signup page; it cannot be archived while affiliates are still in it.
"""

import re
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from tenants.models import Merchant

from .. import tiers
from ..models import PROGRAM_SLUG_PATTERN, Affiliate, CommissionType, Program
from ..rules import RuleError, validate_rules
from ..signals import affiliate_updated, send_for
from .errors import AffiliateError

DEFAULT_SLUG = "affiliates"

PROGRAM_FIELDS = (
    "name",
    "slug",
    "commission_type",
    "commission_bps",
    "commission_amount",
    "commission_currency",
    "recurring_months",
    "cookie_days",
    "hold_days",
    "min_payout_amount",
    "attribution",
    "promotion_codes_first",
    "two_tier",
    "two_tier_bps",
    "auto_approve",
    "signup_open",
    "rules",
    "bonuses",
    "next_tier",
)


def create_default_program(merchant: Merchant) -> Program:
    """The default program: 20% excluding tax, recurring 12 months, 60-day cookie, 30-day hold."""
    program, _ = Program.objects.get_or_create(
        merchant=merchant,
        is_default=True,
        defaults=dict(
            name=f"{merchant.name} affiliate program",
            slug=_free_slug(merchant, DEFAULT_SLUG),
            commission_type=CommissionType.PERCENT,
            commission_bps=2000,
            recurring_months=12,
            cookie_days=60,
            hold_days=30,
        ),
    )
    return program


def default_program(merchant: Merchant) -> Program:
    return Program.objects.filter(merchant=merchant, is_default=True).first() or create_default_program(merchant)


def signup_program(merchant: Merchant, slug: str | None = None) -> Program | None:
    """The program whose signup page this is: the one with `slug`, or the default; None for an unknown or archived
    program."""
    if slug is None:
        return default_program(merchant)
    return Program.objects.for_merchant(merchant).filter(slug=slug.lower(), status=Program.Status.ACTIVE).first()


def _free_slug(merchant: Merchant, wanted: str, *, exclude: int | None = None) -> str:
    base = (re.sub(r"[^a-z0-9-]", "", slugify(wanted)).strip("-")[:50].strip("-")) or "program"
    slug, n = base, 1
    taken = Program.objects.for_merchant(merchant)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    while taken.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _checked(merchant: Merchant, changes: dict, *, program: Program | None = None) -> dict:
    """`changes` to a program's settings, checked and normalised, or AffiliateError naming the field."""
    unknown = set(changes) - set(PROGRAM_FIELDS)
    if unknown:
        raise AffiliateError(f"Unknown program settings: {', '.join(sorted(unknown))}.")
    clean = dict(changes)
    if "name" in clean:
        clean["name"] = (clean["name"] or "").strip()
        if not clean["name"]:
            raise AffiliateError("Give the program a name.", field="name")
    kind = clean.get("commission_type", program.commission_type if program else CommissionType.PERCENT)
    bps = clean.get("commission_bps", program.commission_bps if program else 2000)
    if kind == CommissionType.PERCENT and not 0 <= bps <= 10000:
        raise AffiliateError("A percentage is between 0% and 100%.", field="commission_bps")
    if "two_tier_bps" in clean and not 0 <= clean["two_tier_bps"] <= 10000:
        raise AffiliateError("The parent's share is between 0% and 100%.", field="two_tier_bps")
    if "slug" in clean:
        slug = (clean["slug"] or "").strip().lower()
        if not re.fullmatch(PROGRAM_SLUG_PATTERN, slug):
            raise AffiliateError(
                "A signup page address is 1 to 60 lower-case letters, digits and '-' (not at either end).",
                field="slug",
            )
        taken = Program.objects.for_merchant(merchant).filter(slug=slug)
        if program is not None:
            taken = taken.exclude(pk=program.pk)
        if taken.exists():
            raise AffiliateError(f"Another program already has the address {slug!r}.", field="slug", code="unique")
        clean["slug"] = slug
    try:
        if "rules" in clean:
            clean["rules"] = validate_rules(clean["rules"])
        if "bonuses" in clean:
            clean["bonuses"] = tiers.validate_bonuses(clean["bonuses"])
    except RuleError as exc:
        raise AffiliateError(exc.message, field=exc.path, code="invalid") from None
    if "next_tier" in clean:
        clean.update(_next_tier(merchant, clean.pop("next_tier"), program=program))
    return clean


def _next_tier(merchant: Merchant, value: dict | None, *, program: Program | None) -> dict:
    """The model fields of a next tier: None (no tier), or {"program": a Program or its public id, "when": one
    threshold, "period_days": null or N, "mode": "automatic" or "approval"}. The next tier is another active program
    of the merchant, and following next tiers from it never comes back to this one."""
    if value is None:
        return {"next_tier": None, "tier_when": {}, "tier_period_days": None}
    if not isinstance(value, dict):
        raise AffiliateError("Give the next tier as an object, or null for none.", field="next_tier")
    unknown = set(value) - {"program", "when", "period_days", "mode"}
    if unknown:
        raise AffiliateError(f"Unknown next-tier settings: {', '.join(sorted(unknown))}.", field="next_tier")
    target = value.get("program")
    if not isinstance(target, Program):
        found = Program.objects.for_merchant(merchant).filter(public_id=target) if _is_uuid(target) else None
        target = found.first() if found is not None else None
    if target is None or target.merchant_id != merchant.pk:
        raise AffiliateError("Choose one of your programs as the next tier.", field="next_tier.program")
    if target.is_archived:
        raise AffiliateError(f"{target.name} is archived: restore it first.", field="next_tier.program")
    if program is not None:
        chain, step = set(), target
        while step is not None and step.pk not in chain:
            if step.pk == program.pk:
                what = "itself" if target.pk == program.pk else f"{target.name}, which leads back to it"
                raise AffiliateError(f"A program cannot move affiliates up to {what}.", field="next_tier.program")
            chain.add(step.pk)
            step = Program.objects.filter(pk=step.next_tier_id).first() if step.next_tier_id else None
    mode = value.get("mode", Program.TierMode.AUTOMATIC)
    if mode not in Program.TierMode.values:
        raise AffiliateError("A move is automatic or waits for approval.", field="next_tier.mode")
    try:
        when = tiers.validate_when(value.get("when"), "next_tier.when")
        period = tiers.validate_period(value.get("period_days"), "next_tier.period_days")
    except RuleError as exc:
        raise AffiliateError(exc.message, field=exc.path, code="invalid") from None
    return {"next_tier": target, "tier_when": when, "tier_period_days": period, "tier_mode": mode}


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@transaction.atomic
def create_program(merchant: Merchant, *, name: str, is_default: bool = False, **settings) -> Program:
    """A new program with the default settings for what `settings` leaves out; the default program if `is_default`."""
    clean = _checked(merchant, {"name": name, **settings})
    clean.setdefault("slug", _free_slug(merchant, clean["name"]))
    try:
        with transaction.atomic():
            program = Program.objects.create(merchant=merchant, is_default=False, reviewed_at=timezone.now(), **clean)
    except IntegrityError:
        raise AffiliateError("Another program already has this address.", field="slug", code="unique") from None
    if is_default:
        program = set_default_program(program)
    return program


@transaction.atomic
def update_program(program: Program, **changes) -> Program:
    """Saves a program's settings (and its rules); the first save completes the onboarding step "review your program".
    Payments from now on follow them; commissions already recorded keep the rule they were computed with."""
    updates = _checked(program.merchant, changes, program=program)
    if program.reviewed_at is None:
        updates["reviewed_at"] = timezone.now()
    try:
        with transaction.atomic():
            Program.objects.filter(pk=program.pk).update(**updates)
    except IntegrityError:
        raise AffiliateError("Another program already has this address.", field="slug", code="unique") from None
    program.refresh_from_db()
    return program


@transaction.atomic
def set_default_program(program: Program) -> Program:
    """Makes `program` the merchant's default: the flag moves from the old default in one transaction, with every
    program of the merchant locked, so concurrent calls end with exactly one default."""
    programs = list(Program.objects.select_for_update().filter(merchant_id=program.merchant_id).order_by("pk"))
    program = next(p for p in programs if p.pk == program.pk)
    if program.is_archived:
        raise AffiliateError("An archived program cannot be the default: restore it first.", field="is_default")
    if not program.is_default:
        Program.objects.filter(merchant_id=program.merchant_id, is_default=True).update(is_default=False)
        Program.objects.filter(pk=program.pk).update(is_default=True)
    program.refresh_from_db()
    return program


@transaction.atomic
def set_program_status(program: Program, status: str) -> Program:
    """Archives (only a program that is not the default and has no affiliates left) or restores a program."""
    if status not in Program.Status.values:
        raise AffiliateError("A program is active or archived.", field="status")
    program = Program.objects.select_for_update().get(pk=program.pk)
    if status == Program.Status.ARCHIVED and program.status != status:
        if program.is_default:
            raise AffiliateError(
                "The default program cannot be archived: make another program the default first.", field="status"
            )
        count = Affiliate.objects.filter(program=program).count()
        if count:
            raise AffiliateError(
                f"{count} affiliate{'s are' if count != 1 else ' is'} still in this program: move them to another "
                "program first.",
                field="status",
            )
    Program.objects.filter(pk=program.pk).update(status=status)
    program.refresh_from_db()
    return program


def open_program(merchant_id: int, program: Program) -> Program:
    """`program`, locked, if it is the merchant's and not archived: one that can take an affiliate now."""
    locked = Program.objects.select_for_update().filter(pk=program.pk, merchant_id=merchant_id).first()
    if locked is None:
        raise AffiliateError("Unknown program.", field="program")
    if locked.is_archived:
        raise AffiliateError(f"{locked.name} is archived: restore it first.", field="program")
    return locked


@transaction.atomic
def move_affiliate(affiliate: Affiliate, program: Program) -> Affiliate:
    """Puts the affiliate in `program`: payments from now on earn by its rules, cookie days and hold; commissions
    already recorded keep their amounts, their program and their rule."""
    program = open_program(affiliate.merchant_id, program)
    if affiliate.program_id != program.pk:
        Affiliate.objects.filter(pk=affiliate.pk).update(program=program)
        send_for(affiliate_updated, affiliate)
    affiliate.refresh_from_db()
    return affiliate
