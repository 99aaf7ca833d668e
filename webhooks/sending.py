"""One signed POST to a merchant's endpoint, with the standard library's http.client.

Signing follows the Standard Webhooks specification through the
`standardwebhooks` package: `webhook-id` (the event id, the same on every
attempt so receivers can drop repeats), `webhook-timestamp` (this attempt,
in Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, one per secret in use, space-separated).

The connection goes to the address `addresses.resolve` checked, with TLS
verified against the URL's host name. Redirects are not followed (a 3xx is
not a 2xx). The whole attempt, connection to last byte read, is bounded by
WEBHOOK_TIMEOUT_SECONDS; only the first RESPONSE_EXCERPT bytes of the
answer are read and kept.
"""

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from standardwebhooks import Webhook

from .addresses import UnsafeAddress, resolve

RESPONSE_EXCERPT = 2048  # bytes of the answer kept in the attempt log
USER_AGENT = "Afficone-Webhooks/1.0"


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: str
    duration_ms: int
    error: str = ""

    @property
    def is_success(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(event_id: str, body: str, secrets: list[str], *, at: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(event_id, at, body) for secret in secrets)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def post(url: str, body: str, headers: dict[str, str]) -> Answer:
    """POSTs `body`; the endpoint's answer, or why there was none (`error`)."""
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    started = time.monotonic()
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection | None = None
    expired = threading.Event()

    def abort() -> None:
        # The time is up, whatever stage the attempt is in: shutting the socket down ends a blocked read at once.
        expired.set()
        sock = connection.sock if connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    watchdog = threading.Timer(timeout, abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        address = resolve(host, port)
        pinned = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
        connection = pinned(host, port, address=address, timeout=timeout)
        connection.request("POST", target, body=body.encode(), headers=headers)
        response = connection.getresponse()
        excerpt = _read_excerpt(response)
        return Answer(response.status, excerpt, elapsed())
    except UnsafeAddress as exc:
        return Answer(None, "", elapsed(), f"Not sent: {exc}")
    except TimeoutError:
        return Answer(None, "", elapsed(), f"Timed out after {timeout:g} s.")
    except ssl.SSLError as exc:
        return Answer(None, "", elapsed(), f"TLS error: {exc.reason or exc}")
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            return Answer(None, "", elapsed(), f"Timed out after {timeout:g} s.")
        return Answer(None, "", elapsed(), _describe(exc))
    finally:
        watchdog.cancel()
        if connection is not None:
            connection.close()


def _read_excerpt(response: http.client.HTTPResponse) -> str:
    raw = b""
    while len(raw) < RESPONSE_EXCERPT:
        try:
            chunk = response.read1(RESPONSE_EXCERPT - len(raw))
        except (OSError, http.client.HTTPException):
            break  # the status is in; a body cut short is only a shorter excerpt
        if not chunk:
            break
        raw += chunk
    # Postgres text holds no NUL characters.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused."
    if isinstance(exc, http.client.HTTPException):
        return f"Not an HTTP answer: {type(exc).__name__}."
    message = str(exc) or type(exc).__name__
    return f"Could not connect: {message}"[:500]


def pretty(body: str) -> str:
    """An event body indented for people (the dashboard)."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body
