from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from tenants.models import Merchant

from .models import StripeEvent


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
