"""`python manage.py stripe_sync [--merchant SLUG] [--since ISO-DATE]`

Reads the connected merchants' events (or the named merchant's) back from Stripe's Events API, stores those the
webhook missed and asks for their processing as the webhook does (stripe_integration/reconciliation.py). The checks
run here, one merchant after another; one line per merchant; the exit status is 1 when a check failed.
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from stripe_integration.models import StripeSync
from stripe_integration.reconciliation import (
    WINDOW,
    SyncError,
    request_stripe_sync,
    run_stripe_sync,
    sync_window_start,
)
from tenants.models import Merchant


def parse_since(value: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date and time (UTC unless it names an offset)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--since: {value!r} is not an ISO date or date and time (2026-01-05, 2026-01-05T10:00:00Z)."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Stores and processes the Stripe events the webhook missed, read from Stripe's Events API "
        f"(the last {WINDOW.days} days at most), for every connected merchant or the one named."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", metavar="SLUG", help="Only this merchant (its slug).")
        parser.add_argument(
            "--since",
            metavar="ISO-DATE",
            help=f"Read events created from then on (default and earliest: {WINDOW.days} days ago).",
        )

    def handle(self, *args, merchant: str | None, since: str | None, **options):
        now = timezone.now()
        start = parse_since(since) if since else None
        try:
            capped = sync_window_start(start, now=now)
        except SyncError as exc:
            raise CommandError(f"--since: {exc}") from None
        if start is not None and capped != start:
            self.stderr.write(
                f"--since {since} is more than {WINDOW.days} days ago; Stripe keeps {WINDOW.days} days of events, "
                f"so reading from {capped:%Y-%m-%d %H:%M} UTC."
            )
        failed = 0
        merchants = self._merchants(merchant)
        for each in merchants:
            failed += not self._check(each, since=capped, now=now)
        if not merchants:
            self.stdout.write("No merchant is connected to Stripe: nothing to check.")
        if failed:
            raise CommandError(f"{failed} of {len(merchants)} checks failed.")

    def _merchants(self, slug: str | None) -> list[Merchant]:
        if slug is None:
            return list(
                Merchant.objects.filter(
                    stripe_status=Merchant.StripeStatus.CONNECTED, stripe_account_id__isnull=False
                ).order_by("pk")
            )
        found = Merchant.objects.filter(slug=slug).first()
        if found is None:
            raise CommandError(f"--merchant: no merchant has the slug {slug!r}.")
        if not found.is_stripe_connected:
            raise CommandError(f"--merchant: {found.name} ({slug}) is not connected to Stripe: nothing to check.")
        return [found]

    def _check(self, merchant: Merchant, *, since: datetime, now: datetime) -> bool:
        """Runs one merchant's check here and prints what it found; False when it failed."""
        try:
            run, created = request_stripe_sync(
                merchant, trigger=StripeSync.Trigger.COMMAND, since=since, enqueue=False, now=now
            )
        except SyncError as exc:
            self.stderr.write(f"{merchant.slug}: {exc}")
            return False
        if not created:
            self.stdout.write(
                f"{merchant.slug}: skipped, a check started {run.created_at:%Y-%m-%d %H:%M} UTC is running."
            )
            return True
        try:
            run = run_stripe_sync(run.pk) or run
        except Exception as exc:  # recorded on the run; the other merchants are still checked
            self.stderr.write(f"{merchant.slug}: the check stopped on an error in Afficone: {exc!r}")
            return False
        found = (
            f"{merchant.slug} ({run.account}): {run.events_seen} events since {run.since:%Y-%m-%d %H:%M} UTC read on "
            f"{run.pages} pages, {run.events_stored} stored that the webhook had missed"
        )
        if run.status != StripeSync.Status.SUCCEEDED:
            self.stderr.write(f"{found}; failed: {run.error or run.get_status_display()}")
            return False
        self.stdout.write(found + ".")
        return True
