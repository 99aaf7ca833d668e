from datetime import timedelta

from django import template
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from tenants.models import Membership, Merchant

from ..models import SeenDomain, UnstoredClick

register = template.Library()

# The install partial counts clicks the database refused (tracking/storage.py) over this many days.
UNSTORED_CLICK_DAYS = 30


@register.simple_tag
def tracking_snippet(merchant: Merchant) -> str:
    """The exact tag a merchant pastes on every page (as text; the template escapes it)."""
    src = settings.SITE_URL + reverse("tracking:script")
    return f'<script async src="{src}" data-afficone="{merchant.public_key}"></script>'


# The path of the merchant's own site that its proxy forwards to Afficone (README.md, "The tracker on your own
# domain"); any path works, the snippets and the tag below just need to agree.
PROXY_PREFIX = "/_a"
PROXY_SECRET_PLACEHOLDER = "ASK_AN_OWNER_FOR_THE_PROXY_SECRET"
# (id, label, template): the proxy configurations the install partial shows, each rendered with the merchant's values.
PROXY_CONFIGS = [
    ("nginx", "nginx", "tracking/proxy/nginx.conf"),
    ("nextjs", "Next.js", "tracking/proxy/middleware.js"),
    ("vercel", "Vercel", "tracking/proxy/vercel.json"),
    ("cloudflare", "Cloudflare Worker", "tracking/proxy/worker.js"),
]


@register.simple_tag
def tracking_proxy(merchant: Merchant, membership: Membership | str | None) -> dict:
    """The first-party setup: the tag that loads the script through the merchant's proxy and each proxy's config.

    The secret is filled in for owners and admins only (they can rotate it); other members, and pages rendered
    without a membership (""), see a placeholder.
    """
    can_manage = isinstance(membership, Membership) and membership.can_manage
    context = {
        "prefix": PROXY_PREFIX,
        "app_url": settings.SITE_URL,
        "secret": merchant.proxy_secret if can_manage else PROXY_SECRET_PLACEHOLDER,
    }
    return {
        "can_manage": can_manage,
        "prefix": PROXY_PREFIX,
        "secret": context["secret"],
        "tag": f'<script async src="{PROXY_PREFIX}/t.js" data-afficone="{merchant.public_key}"></script>',
        "configs": [
            {"id": key, "label": label, "text": render_to_string(name, context).strip() + "\n"}
            for key, label, name in PROXY_CONFIGS
        ],
    }


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
