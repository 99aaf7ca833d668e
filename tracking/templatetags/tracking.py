from django import template
from django.conf import settings
from django.urls import reverse

from .. import selectors

register = template.Library()


@register.simple_tag
def tracking_snippet(merchant) -> str:
    """The exact tag a merchant pastes on every page (as text; the template escapes it)."""
    src = settings.SITE_URL + reverse("tracking:script")
    return f'<script async src="{src}" data-afficone="{merchant.public_key}"></script>'


@register.simple_tag
def tracking_stub() -> str:
    """The optional one-line queue stub: `Afficone.ready(fn)` works before the script has loaded."""
    return "<script>window.Afficone=window.Afficone||{q:[],ready:function(f){Afficone.q.push(f)}}</script>"


@register.simple_tag
def tracking_seen_domains(merchant):
    return list(selectors.seen_domains(merchant)[:50])
