"""What an import would change: the rows merged per affiliate and matched against the merchant's own data.

Reads only, all scoped to the merchant: another merchant's affiliates, codes, customers and commissions are never
seen. An affiliate in the file is the merchant's affiliate with the same platform id (imported before), else the
one with the same email (compared without case). What the merchant has is kept: a name or PayPal email it lacks is
filled in, everything else that differs is reported, and an old code that is not the affiliate's here becomes a
LegacyCode so its links keep working. A code, customer or commission that belongs to another affiliate is an error
on its line, never overwritten.
"""

from dataclasses import dataclass, field

from django.db.models.functions import Lower

from tenants.models import Merchant

from ..models import Affiliate, Commission, ImportedAffiliate, LegacyCode, Referral
from .rows import ImportedCommission, ImportRow, Parsed, Platform, Problem


@dataclass
class AffiliatePlan:
    line: int  # the first line naming it
    external_id: str = ""
    email: str = ""
    name: str = ""
    status: str = ""
    paypal_email: str = ""
    codes: list[str] = field(default_factory=list)  # the export's, without repeats (compared without case)
    existing: Affiliate | None = None
    matched_by: str = ""  # "id" (imported before) or "email"
    code: str = ""  # a new affiliate's code; "" derives one from the name when written
    legacy_codes: list[str] = field(default_factory=list)  # to add, lower-case
    fills: dict[str, str] = field(default_factory=dict)  # an existing affiliate's empty fields, filled in
    differences: list[tuple[str, str, str]] = field(default_factory=list)  # (what, ours: kept, the export's)
    records_id: bool = False  # the platform id is to be remembered
    affiliate: Affiliate | None = None  # the row written or matched, once written

    @property
    def is_new(self) -> bool:
        return self.existing is None

    @property
    def changes(self) -> bool:
        return self.is_new or bool(self.fills or self.legacy_codes or self.records_id)

    @property
    def added(self) -> list[str]:
        """What the import adds to an affiliate the merchant has, in words."""
        names = {"name": "name", "paypal_email": "PayPal email"}
        added = [f"{names[k]} {v}" for k, v in self.fills.items()] + [f"old code {c}" for c in self.legacy_codes]
        return added + ([f"its id there, {self.external_id}"] if self.records_id else [])

    @property
    def label(self) -> str:
        if self.existing is not None:
            return self.existing.name or self.existing.email
        return self.name or self.email


@dataclass
class ReferralPlan:
    line: int
    customer: str
    customer_email: str
    owner: AffiliatePlan


@dataclass
class CommissionPlan:
    line: int
    commission: ImportedCommission
    source_id: str
    currency: str
    owner: AffiliatePlan
    customer: str = ""


@dataclass
class ImportReport:
    platform: Platform
    dry_run: bool
    affiliates: list[AffiliatePlan] = field(default_factory=list)
    referrals: list[ReferralPlan] = field(default_factory=list)
    commissions: list[CommissionPlan] = field(default_factory=list)
    unchanged: list[Problem] = field(default_factory=list)  # lines whose data is here already
    skipped: list[Problem] = field(default_factory=list)  # lines left out on purpose (paid commissions)
    errors: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def new_affiliates(self) -> list[AffiliatePlan]:
        return [a for a in self.affiliates if a.is_new]

    @property
    def matched_affiliates(self) -> list[AffiliatePlan]:
        return [a for a in self.affiliates if not a.is_new]

    @property
    def has_changes(self) -> bool:
        return any(a.changes for a in self.affiliates) or bool(self.referrals or self.commissions)


def plan_import(merchant: Merchant, parsed: Parsed, *, currency: str, dry_run: bool) -> ImportReport:
    """The report of what importing `parsed` would write for `merchant` (`currency` for commissions naming none)."""
    report = ImportReport(
        platform=parsed.platform,
        dry_run=dry_run,
        skipped=list(parsed.skipped),
        errors=list(parsed.errors),
        ignored_columns=parsed.ignored_columns,
    )
    groups = _merge(parsed.rows, report.errors)
    report.affiliates = groups
    known = _Known.load(merchant, parsed, groups)
    claimed: dict[str, tuple[int, AffiliatePlan]] = {}
    for group in groups:
        _match(group, known, report.errors)
        _codes(group, known, claimed, report.errors)
    _referrals(parsed, groups, known, report)
    _commissions(parsed, groups, known, report, currency=currency)
    report.errors.sort(key=lambda problem: problem.line)
    return report


# --- one affiliate per platform id or email ----------------------------------------------------------------------


def _merge(rows: list[ImportRow], errors: list[Problem]) -> list[AffiliatePlan]:
    """One AffiliatePlan per affiliate in the file (lines naming the same platform id or email), in file order."""
    groups: list[AffiliatePlan] = []
    by_id: dict[str, AffiliatePlan] = {}
    by_email: dict[str, AffiliatePlan] = {}
    first_line: dict[tuple[int, str], int] = {}  # (group, field) -> the line that gave its value
    for row in rows:
        found_by_id = by_id.get(row.external_id) if row.external_id else None
        found_by_email = by_email.get(row.email) if row.email else None
        if found_by_id and found_by_email and found_by_id is not found_by_email:
            errors.append(
                Problem(
                    row.line,
                    f"the affiliate id {row.external_id} is on line {found_by_id.line} and the email {row.email} "
                    f"on line {found_by_email.line}, for two different affiliates",
                )
            )
            continue
        group = found_by_id or found_by_email
        if group is None:
            group = AffiliatePlan(line=row.line)
            groups.append(group)
        clash = False
        for name in ("external_id", "email", "name", "status", "paypal_email"):
            value, current = getattr(row, name), getattr(group, name)
            if value and current and value != current:
                errors.append(
                    Problem(
                        row.line,
                        f"the {name.replace('_', ' ')} {value!r} differs from {current!r} "
                        f"on line {first_line[(id(group), name)]}, for the same affiliate",
                    )
                )
                clash = True
            elif value and not current:
                setattr(group, name, value)
                first_line[(id(group), name)] = row.line
        if clash:
            continue
        for code in row.codes:
            if code.lower() not in {c.lower() for c in group.codes}:
                group.codes.append(code)
        if group.external_id:
            by_id[group.external_id] = group
        if group.email:
            by_email[group.email] = group
    return groups


@dataclass
class _Known:
    """The merchant's rows that the file's ids, emails, codes, customers and commissions name, one query each."""

    by_external_id: dict[str, Affiliate]
    by_email: dict[str, Affiliate]
    code_holders: dict[str, Affiliate]  # lower-case code -> the affiliate whose links carry it here
    customers: dict[str, Affiliate]  # Stripe customer id -> the affiliate it is bound to
    commissions: set[str]  # the source ids of the commissions imported before

    @classmethod
    def load(cls, merchant: Merchant, parsed: Parsed, groups: list[AffiliatePlan]) -> "_Known":
        affiliates = Affiliate.objects.for_merchant(merchant)
        ids = {g.external_id for g in groups if g.external_id}
        emails = {g.email for g in groups if g.email}
        codes = {code.lower() for g in groups for code in g.codes}
        imported = (
            ImportedAffiliate.objects.for_merchant(merchant)
            .filter(platform=parsed.platform.key, external_id__in=ids)
            .select_related("affiliate")
        )
        with_email = affiliates.annotate(lower_email=Lower("email")).filter(lower_email__in=emails)
        holders = {a.lower_code: a for a in affiliates.annotate(lower_code=Lower("code")).filter(lower_code__in=codes)}
        for legacy in LegacyCode.objects.for_merchant(merchant).filter(code__in=codes).select_related("affiliate"):
            holders.setdefault(legacy.code, legacy.affiliate)
        customers = {row.customer for row in parsed.rows if row.customer}
        bound = Referral.objects.for_merchant(merchant).filter(stripe_customer_id__in=customers)
        sources = {source_id(parsed.platform, row.commission) for row in parsed.rows if row.commission}
        return cls(
            by_external_id={i.external_id: i.affiliate for i in imported},
            by_email={a.lower_email: a for a in with_email},
            code_holders=holders,
            customers={r.stripe_customer_id: r.affiliate for r in bound.select_related("affiliate")},
            commissions=set(
                Commission.objects.for_merchant(merchant)
                .filter(source_id__in=sources)
                .values_list("source_id", flat=True)
            ),
        )


def source_id(platform: Platform, commission: ImportedCommission) -> str:
    """The commission's `source_id`: the platform and its id for it ("rewardful:39e68c88-..."), which is unique per
    merchant, so a commission is never imported twice."""
    return f"{platform.key}:{commission.external_id}"


def _match(group: AffiliatePlan, known: _Known, errors: list[Problem]) -> None:
    by_id = known.by_external_id.get(group.external_id) if group.external_id else None
    by_email = known.by_email.get(group.email) if group.email else None
    if by_id and by_email and by_id.pk != by_email.pk:
        errors.append(
            Problem(
                group.line,
                f"the affiliate id {group.external_id} was imported as {by_id.email}, "
                f"but {group.email} is another affiliate here",
            )
        )
        return
    group.existing = by_id or by_email
    if group.existing is None:
        if not group.email:
            errors.append(
                Problem(group.line, f"the affiliate id {group.external_id} has no email here nor in an earlier import")
            )
        group.status = group.status or Affiliate.Status.APPROVED
        return
    existing = group.existing
    group.matched_by = "id" if by_id else "email"
    group.records_id = bool(group.external_id) and by_id is None
    for label, ours, theirs in (
        ("email", existing.email, group.email),
        ("name", existing.name, group.name),
        ("status", existing.status, group.status),
        ("PayPal email", existing.paypal_email, group.paypal_email),
    ):
        if theirs and ours and theirs.lower() != ours.lower():
            group.differences.append((label, ours, theirs))
    if group.name and not existing.name:
        group.fills["name"] = group.name
    if group.paypal_email and not existing.paypal_email:
        group.fills["paypal_email"] = group.paypal_email


def _codes(
    group: AffiliatePlan, known: _Known, claimed: dict[str, tuple[int, AffiliatePlan]], errors: list[Problem]
) -> None:
    """The codes the affiliate's old links carry: its code here (a new affiliate's first free one), else legacy
    codes. One held by another affiliate, here or elsewhere in the file, is an error."""
    for code in group.codes:
        key = code.lower()
        holder = known.code_holders.get(key)
        other = claimed.get(key)
        if other is not None and other[1] is not group:
            errors.append(Problem(group.line, f"the code {code!r} is also on line {other[0]}, for another affiliate"))
            continue
        claimed[key] = (group.line, group)
        if holder is not None and (group.existing is None or holder.pk != group.existing.pk):
            errors.append(
                Problem(
                    group.line,
                    f"the code {code!r} belongs to another affiliate here ({holder.email}): it is not overwritten",
                )
            )
            continue
        if holder is not None:
            continue  # already theirs, as their code or a legacy code
        if group.existing is None and not group.code:
            group.code = code
        else:
            group.legacy_codes.append(key)


# --- referred customers and commissions ---------------------------------------------------------------------------


def _owner(row: ImportRow, groups_by_key: dict[tuple[str, str], AffiliatePlan]) -> AffiliatePlan | None:
    return groups_by_key.get(("id", row.external_id)) or groups_by_key.get(("email", row.email))


def _index(groups: list[AffiliatePlan]) -> dict[tuple[str, str], AffiliatePlan]:
    index: dict[tuple[str, str], AffiliatePlan] = {}
    for group in groups:
        if group.external_id:
            index[("id", group.external_id)] = group
        if group.email:
            index[("email", group.email)] = group
    return index


def _referrals(parsed: Parsed, groups: list[AffiliatePlan], known: _Known, report: ImportReport) -> None:
    index, seen = _index(groups), dict[str, tuple[int, AffiliatePlan]]()
    for row in parsed.rows:
        owner = _owner(row, index)
        if not row.customer or owner is None:
            continue
        if row.customer in seen:
            if seen[row.customer][1] is not owner:
                line = seen[row.customer][0]
                report.errors.append(
                    Problem(row.line, f"the customer {row.customer} is also on line {line}, for another affiliate")
                )
            continue
        seen[row.customer] = (row.line, owner)
        referrer = known.customers.get(row.customer)
        if referrer is None:
            report.referrals.append(ReferralPlan(row.line, row.customer, row.customer_email, owner))
        elif owner.existing is not None and referrer.pk == owner.existing.pk:
            report.unchanged.append(Problem(row.line, f"the customer {row.customer} is {referrer.email}'s already"))
        else:
            report.errors.append(
                Problem(row.line, f"the customer {row.customer} is already referred by {referrer.email} here")
            )


def _commissions(
    parsed: Parsed, groups: list[AffiliatePlan], known: _Known, report: ImportReport, *, currency: str
) -> None:
    index, seen = _index(groups), dict[str, int]()
    for row in parsed.rows:
        owner = _owner(row, index)
        if row.commission is None or owner is None:
            continue
        source = source_id(parsed.platform, row.commission)
        if source in seen:
            report.errors.append(
                Problem(row.line, f"the commission {row.commission.external_id} is also on line {seen[source]}")
            )
            continue
        seen[source] = row.line
        if source in known.commissions:
            report.unchanged.append(
                Problem(row.line, f"the commission {row.commission.external_id} was imported before")
            )
            continue
        report.commissions.append(
            CommissionPlan(
                line=row.line,
                commission=row.commission,
                source_id=source,
                currency=row.commission.currency or currency,
                owner=owner,
                customer=row.customer,
            )
        )


def summary(report: ImportReport) -> str:
    """One sentence of counts: what was imported (or would be, in a dry run), what was left out, the errors."""

    def count(n: int, one: str, many: str = "") -> str:
        return f"{n} {one if n == 1 else (many or one + 's')}"

    changed = [a for a in report.matched_affiliates if a.changes]
    parts = [
        count(len(report.new_affiliates), "new affiliate"),
        count(len(changed), "existing affiliate updated", "existing affiliates updated"),
        count(len(report.referrals), "referred customer"),
        count(len(report.commissions), "unpaid commission"),
    ]
    text = ", ".join(parts)
    if report.unchanged:
        text += f"; {count(len(report.unchanged), 'line')} already here"
    if report.skipped:
        text += f"; {count(len(report.skipped), 'commission')} left out"
    if report.errors:
        text += f"; {count(len(report.errors), 'error')}"
    return text
