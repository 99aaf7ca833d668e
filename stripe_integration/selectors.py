from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from tenants.models import Merchant

from .models import StripeEvent, StripeSync


def webhook_health(merchant: Merchant, *, now: datetime | None = None) -> dict:
    """Webhook health for the settings page: events received, ignored and failed in the last 24 hours (plus those
    still waiting for a related object or not yet processed), and when the last event arrived (any time)."""
    now = now or timezone.now()
    events = StripeEvent.objects.for_merchant(merchant)
    counts = events.filter(received_at__gte=now - timedelta(hours=24)).aggregate(
        received=Count("pk"),
        ignored=Count("pk", filter=Q(status=StripeEvent.Status.IGNORED)),
        failed=Count("pk", filter=Q(status=StripeEvent.Status.FAILED)),
        waiting=Count("pk", filter=Q(status=StripeEvent.Status.WAITING)),
        pending=Count("pk", filter=Q(status=StripeEvent.Status.PENDING)),
    )
    counts["last_event_at"] = events.aggregate(last=Max("received_at"))["last"]
    return counts


RECENT_EVENTS = 10


def recent_events(merchant: Merchant, *, limit: int = RECENT_EVENTS) -> list[StripeEvent]:
    """The merchant's latest events for Settings -> Stripe, newest first, with what each came to (status, outcome,
    error), without their payloads."""
    return list(
        StripeEvent.objects.for_merchant(merchant)
        .order_by("-received_at", "-pk")
        .only("stripe_id", "type", "status", "received_at", "waiting_for", "error", "outcome")[:limit]
    )


def stripe_sync_status(merchant: Merchant) -> dict:
    """The settings page's reconciliation panel: the merchant's last run (or None), and whether to offer reading the
    last 30 days (connected, and nobody has asked for a run since connecting: the nightly check reads only from the
    connection on)."""
    runs = StripeSync.objects.for_merchant(merchant)
    last = runs.order_by("-created_at", "-pk").first()
    offer = merchant.is_stripe_connected and not (
        runs.filter(created_at__gte=merchant.stripe_connected_at).exclude(trigger=StripeSync.Trigger.NIGHTLY).exists()
        if merchant.stripe_connected_at
        else last is not None
    )
    return {"last": last, "offer": offer}
