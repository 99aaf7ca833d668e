"""Affiliates' referral links: the merchant's site with ?ref=CODE."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tenants.models import Merchant


def referral_link(merchant: Merchant, code: str, page: str = "") -> str:
    """`page` (a URL of the merchant's site, default its home page) with ?ref=CODE, other parameters kept."""
    base = page.strip() or merchant.website or ""
    if not base:
        return ""
    parts = urlsplit(base if "://" in base else "https://" + base)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("ref", "via", "aff")]
    query.append(("ref", code))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))
