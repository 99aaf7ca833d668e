from datetime import timedelta

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tenants.models import Merchant

from ..models import SeenDomain, UnstoredClick

register = template.Library()

# The install partial counts clicks the database refused (tracking/storage.py) over this many days.
UNSTORED_CLICK_DAYS = 30


@register.simple_tag
def tracking_snippet(merchant: Merchant) -> str:
    """The exact tag a merchant pastes on every page (as text; the template escapes it)."""
    src = settings.SITE_URL + reverse("tracking:script")
    return f'<script async src="{src}" data-afficone="{merchant.public_key}"></script>'


@register.simple_tag
def tracking_stub() -> str:
    """The optional one-line queue stub: `Afficone.ready(fn)` works before the script has loaded."""
    return "<script>window.Afficone=window.Afficone||{q:[],ready:function(f){Afficone.q.push(f)}}</script>"


@register.simple_tag
def tracking_seen_domains(merchant: Merchant) -> list[SeenDomain]:
    """The installation check: host names where the script has run, most recently seen first."""
    return list(SeenDomain.objects.for_merchant(merchant).order_by("-last_seen_at", "domain")[:50])


@register.simple_tag
def tracking_unstored_clicks(merchant: Merchant) -> int:
    since = timezone.now() - timedelta(days=UNSTORED_CLICK_DAYS)
    return UnstoredClick.objects.for_merchant(merchant).filter(created_at__gte=since).count()
