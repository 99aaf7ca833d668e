"""`python manage.py import_affiliates --merchant SLUG --from rewardful|firstpromoter|tolt FILE.csv [--dry-run]`

Imports a merchant's affiliates (with their old link codes, PayPal emails, referred customers and unpaid
commissions) from another platform's CSV export through affiliates.importers, and prints what changed. With
--dry-run it prints what would change and writes nothing. A file with bad lines writes nothing: they are printed
with their line numbers and the command exits with status 1.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from affiliates import importers, money
from affiliates.importers.plan import summary
from tenants.models import Merchant


class Command(BaseCommand):
    help = "Imports affiliates, referred customers and unpaid commissions from a Rewardful, FirstPromoter or Tolt CSV."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="The merchant's slug.")
        parser.add_argument(
            "--from", dest="platform", required=True, choices=sorted(importers.PLATFORMS), help="The platform."
        )
        parser.add_argument("file", help="The CSV file the platform exported.")
        parser.add_argument("--dry-run", action="store_true", help="Print what would change; write nothing.")

    def handle(self, *args, merchant, platform, file, dry_run, **options):
        found = Merchant.objects.filter(slug=merchant).first()
        if found is None:
            raise CommandError(f"--merchant: no merchant has the slug {merchant!r}.")
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}.") from None
        try:
            parsed = importers.read_csv(platform, data)
        except importers.ImportFileError as exc:
            raise CommandError(f"{file}: {exc}") from None
        report = importers.import_rows(found, parsed, dry_run=dry_run)
        label = importers.PLATFORMS[platform].label
        self.stdout.write(f"{label} import for {found.name}{' (dry run: nothing written)' if dry_run else ''}")
        for line in describe(report):
            self.stdout.write(line)
        if report.errors:
            count = len(report.errors)
            raise CommandError(
                f"Nothing written: {count} error{'s' if count != 1 else ''}. Fix those lines and import the file again."
            )
        if dry_run:
            self.stdout.write(f"Would import: {summary(report)}.")
        elif report.applied:
            self.stdout.write(self.style.SUCCESS(f"Imported: {summary(report)}."))
        else:
            self.stdout.write(f"Nothing to import: {summary(report)}.")


def describe(report: importers.ImportReport) -> list[str]:
    """The report as lines of text, by section."""
    lines: list[str] = []

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {item}" for item in items)

    section(
        "New affiliates",
        [
            f"line {a.line}: {a.name or '(no name)'} <{a.email}>, code {a.code or '(from the name)'}"
            + (f", old codes {', '.join(a.legacy_codes)}" if a.legacy_codes else "")
            + f", {a.status}"
            + (f", PayPal {a.paypal_email}" if a.paypal_email else "")
            for a in report.new_affiliates
        ],
    )
    section(
        "Affiliates already here",
        [
            f"line {a.line}: {a.existing.email} (matched by {a.matched_by})"
            + "".join(f"; keeps {what} {ours!r} (the export has {theirs!r})" for what, ours, theirs in a.differences)
            + "".join(f"; adds {name.replace('_', ' ')} {value!r}" for name, value in a.fills.items())
            + (f"; old codes {', '.join(a.legacy_codes)} keep working" if a.legacy_codes else "")
            + ("" if a.changes or a.differences else "; nothing to change")
            for a in report.matched_affiliates
            if a.existing is not None
        ],
    )
    section("Referred customers", [f"line {r.line}: {r.customer} -> {r.owner.email}" for r in report.referrals])
    section(
        "Unpaid commissions",
        [
            f"line {c.line}: {money.format_money(c.commission.amount, c.currency)} {c.commission.status} "
            f"-> {c.owner.email} ({c.commission.external_id})"
            for c in report.commissions
        ],
    )
    section("Already here", [f"line {p.line}: {p.message}" for p in report.unchanged])
    section("Left out", [f"line {p.line}: {p.message}" for p in report.skipped])
    section("Errors", [f"line {p.line}: {p.message}" if p.line else p.message for p in report.errors])
    if report.ignored_columns:
        lines.append(f"Columns not read: {', '.join(report.ignored_columns)}")
    return lines
