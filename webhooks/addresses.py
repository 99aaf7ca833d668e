"""Which addresses webhooks may be sent to.

In production only public `https` URLs: a merchant must not make this server
POST to itself, its private network or a cloud metadata service. Checked
twice: when the URL is saved (the scheme, and a host that is an IP literal or
a local name), and at every send, after DNS resolution, where the connection
then goes to the address that was checked (webhooks/sending.py), so a name
that resolves to a public address when saved and a private one later (DNS
rebinding) is refused. `WEBHOOK_ALLOW_INSECURE_URLS` (on with DEBUG) lifts
both checks for development and tests, which send to a local receiver over
plain HTTP.
"""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

# What a webhook URL may look like (the REST API's schema shows it): http(s), a host name or an IPv4 address, a port,
# a path and a query in plain ASCII (percent-encode the rest), no fragment, no credentials. A one-label name
# ("intranet") is a URL too: what it resolves to is checked at each send.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_CHARS = r"A-Za-z0-9._~!$&'()*+,;=:@%/-"
URL_PATTERN = (
    rf"^https?://(?:(?:{_LABEL}\.)+[A-Za-z]{{2,63}}|{_OCTET}(?:\.{_OCTET}){{3}}|{_LABEL})(?::{_PORT})?"
    rf"(?:/[{_CHARS}]*)?(?:\?[{_CHARS}?]*)?$"
)
_URL = re.compile(URL_PATTERN)
INVALID_URL = "Enter a valid URL: https://, a host name, then an optional port, path and query in plain ASCII."

LOCAL_NAMES = ("localhost", "localhost.localdomain")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
# IPv6 addresses that carry an IPv4 one in their last 32 bits and reach it: NAT64's well-known prefix (a gateway
# translates to that IPv4 address) and the old IPv4-compatible addresses. Checked as the IPv4 address they carry.
CARRY_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))
# Not globally reachable (IANA), though the standard library of Python 3.11 counts it global: NAT64 for local use
# (RFC 8215), translating to whatever network its gateway sits in.
NOT_GLOBAL = (ipaddress.ip_network("64:ff9b:1::/48"),)


class UnsafeAddress(ValueError):
    """A webhook URL this server will not send to; the message says why, for people."""


def allows_insecure() -> bool:
    return bool(settings.WEBHOOK_ALLOW_INSECURE_URLS)


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not private, loopback, link-local, shared, reserved...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in network for network in CARRY_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    if any(ip in network for network in NOT_GLOBAL if network.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> str:
    """`url` if webhooks may be sent there, else UnsafeAddress. No DNS here: `resolve` does that at each send."""
    url = url.strip()
    if len(url) > 2000 or not _URL.fullmatch(url):
        raise UnsafeAddress(INVALID_URL)
    parts = urlsplit(url)
    insecure = allows_insecure()
    if parts.scheme not in (("https", "http") if insecure else ("https",)):
        raise UnsafeAddress("Use an https:// address." if not insecure else "Use an http:// or https:// address.")
    host = parts.hostname or ""
    if insecure:
        return url
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None and _is_other_ipv4_spelling(host):
        # 2130706433, 0x7f000001, 017700000001: one-label names to the URL pattern, an IPv4 address to the resolver.
        raise UnsafeAddress("Write an IP address as four decimal numbers, such as 203.0.113.10.")
    if literal is not None and not is_public(str(literal)):
        raise UnsafeAddress("This address is not on the public internet.")
    if host.lower() in LOCAL_NAMES or host.lower().endswith(LOCAL_SUFFIXES):
        raise UnsafeAddress("This address is not on the public internet.")
    return url


def _is_other_ipv4_spelling(host: str) -> bool:
    """Whether the C resolver reads `host` as an IPv4 address (decimal, octal or hex, in one to four parts)."""
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):
        return False
    return True


def resolve(host: str, port: int) -> str:
    """The address to connect to for `host`. Unless insecure URLs are allowed, every address the name resolves to
    must be public (UnsafeAddress otherwise): one private answer among public ones is refused too."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"Could not resolve {host}: {exc.strerror or exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not allows_insecure():
        private = [address for address in addresses if not is_public(address)]
        if private:
            raise UnsafeAddress(f"{host} resolves to {private[0]}, which is not on the public internet.")
    return addresses[0]
