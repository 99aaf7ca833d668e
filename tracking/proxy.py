"""The tracker behind the merchant's own proxy: whom to trust for the visitor's address and host, and the HTTP cookie.

A merchant may forward a path of its own site to Afficone (README.md, "The tracker on your own domain"), so that
the page loads `/_a/t.js` and posts to `/_a/api/track/...` on its own origin. Afficone then sees the proxy's address,
not the visitor's: every visitor would share one rate limit and one visitor hash. The proxy therefore sends

  Afficone-Proxy-Secret  the merchant's proxy secret (Settings), compared in constant time;
  X-Forwarded-For        the visitor's address;
  X-Forwarded-Host       the host name the visitor asked for (the merchant's site);
  X-Forwarded-Proto      "https" or "http", as the visitor connected (the first entry of a list).

Only a request whose secret is the secret of the merchant named by the body's public key has these trusted; any
other (no secret, a wrong one, another merchant's) is read exactly as if the headers were absent, so forging them
changes nothing.

Which X-Forwarded-For entry is the visitor: the right-most one that Afficone's own infrastructure did not add.
Proxies append the address they received the request from, so the last entry the merchant's proxy wrote is the
visitor as that proxy saw it, while anything to its left is whatever the visitor's browser claimed and could be
forged at will. Afficone's own front proxy (deploy/nginx.conf, and a load balancer before it) appends the merchant's
proxy's address, which is the request's address as `services.client_ip` reads it through
TRACKING_CLIENT_IP_HEADER, so with that setting trailing entries equal to that address are skipped first (without
it the app faces the merchant's proxy itself, and nothing of ours was appended). An entry that is not an IP
address makes the header unusable.

A trusted click (or adoption of a referral from another of the merchant's sites) also gets `afficone_ref` as an
HTTP cookie on the site's registrable domain (the public suffix list bundled with `publicsuffixlist`, never
fetched), which Safari keeps for the program's cookie days where it caps cookies written by scripts at seven; no
cookie for an IP address, a host with no registrable domain (localhost) or a public suffix itself.
"""

import functools
import hmac
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from publicsuffixlist import PublicSuffixList

from tenants.services import proxy_secret_for

from .services import client_ip

SECRET_HEADER = "HTTP_AFFICONE_PROXY_SECRET"
COOKIE_NAME = "afficone_ref"
MAX_HOST_LENGTH = 253


@dataclass(frozen=True)
class Visitor:
    """Who sent a tracker request: the address for rate limits and the visitor hash, and (through a trusted
    proxy) the site's host name and scheme."""

    ip: str
    host: str = ""  # set only through a trusted proxy
    is_https: bool = False

    @property
    def cookie_domain(self) -> str | None:
        return registrable_domain(self.host) if self.host else None


def visitor(request: HttpRequest, public_key: str) -> Visitor:
    """The request's visitor: as the merchant's proxy forwarded it when its secret is right, else the socket's."""
    peer = client_ip(request)
    sent = request.META.get(SECRET_HEADER, "")
    if not sent or not is_proxy_secret(public_key, sent):
        return Visitor(ip=peer)
    ours = peer if settings.TRACKING_CLIENT_IP_HEADER else None  # what Afficone's own front proxy appended
    forwarded = _forwarded_ip(request.META.get("HTTP_X_FORWARDED_FOR", ""), ours=ours)
    return Visitor(
        ip=forwarded or peer,
        host=_host(request.META.get("HTTP_X_FORWARDED_HOST", "")),
        # Each hop appends its own scheme (Next.js behind a load balancer: "https,http"): the first is the visitor's.
        is_https=request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower() == "https",
    )


def is_proxy_secret(public_key: str, sent: str) -> bool:
    secret = proxy_secret_for(public_key)
    return bool(secret) and hmac.compare_digest(secret.encode(), sent.strip().encode("utf-8", "replace"))


def _forwarded_ip(header: str, *, ours: str | None) -> str | None:
    entries = [entry.strip() for entry in header.split(",")]
    while ours and entries and entries[-1] == ours:
        entries.pop()
    return _ip(entries[-1]) if entries else None


def _ip(value: str) -> str | None:
    """An address as it appears in X-Forwarded-For (some proxies add a port: 192.0.2.1:443, [2001:db8::1]:443)."""
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _host(header: str) -> str:
    """The first X-Forwarded-Host, lower-cased, without port and trailing dot; "" if it is not a host name."""
    host = header.split(",")[0].strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]" if "]" in host else ""
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.rstrip(".")
    if not host or len(host) > MAX_HOST_LENGTH or not all(_is_label(label) for label in host.split(".")):
        return ""
    return host


def _is_label(label: str) -> bool:
    return 0 < len(label) <= 63 and label.isascii() and all(c.isalnum() or c in "-_" for c in label)


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package: no network


def registrable_domain(host: str) -> str | None:
    """The domain a cookie for `host` goes on (app.shop.example.co.uk -> example.co.uk), or None: IP addresses,
    public suffixes themselves (co.uk, github.io) and names without one (localhost) get no cookie."""
    host = _host(host)
    if not host or host.startswith("["):
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    return _suffixes().privatesuffix(host)


def set_referral_cookie(response: HttpResponse, found: Visitor, *, referral: str, days: float) -> None:
    """Sets `afficone_ref` as t.js would, from the server: then the browser keeps it for all of `days`."""
    domain = found.cookie_domain
    if domain is None:
        return
    response.set_cookie(
        COOKIE_NAME,
        referral,
        max_age=int(days * 86400),
        domain=domain,
        path="/",
        secure=found.is_https,
        httponly=False,  # t.js and the merchant's pages read it (Afficone.referral)
        samesite="Lax",
    )
