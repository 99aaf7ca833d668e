"""Affiliate links: a URL of the merchant's site with `?ref=CODE` (DESIGN.md, "Referral links and the browser side").

The one builder; the dashboard, the portal and the API differ only in the site they pass when the merchant has not
set a website.
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The parameters the script reads a code from (tracker/src/t.js); a link carries only ours.
REF_PARAMETERS = ("ref", "via", "aff", "fpr")


def referral_link(site: str, code: str) -> str:
    """`site` (any URL of the merchant's site; https:// when it names no scheme) with `ref=code`.

    Its path, other parameters and fragment are kept; a `ref`, `via`, `aff` or `fpr` it already has is replaced. A
    site with no path gets "/". "" when there is no site.
    """
    site = (site or "").strip()
    if not site:
        return ""
    parts = urlsplit(site if "://" in site else "https://" + site)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in REF_PARAMETERS]
    query.append(("ref", code))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))
