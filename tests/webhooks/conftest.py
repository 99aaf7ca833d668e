"""The merchant's side of webhooks: a local HTTP endpoint that records what it is sent and answers as told."""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from tenants.services import create_api_key
from tests.api.conftest import Api
from webhooks.models import EventType, WebhookEndpoint
from webhooks.services import create_endpoint


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    def verified(self, secret: str) -> dict:
        """The event, if the signature checks out with `secret` (standardwebhooks raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    """Records every request; answers each with the next of `answers` (status, body[, headers]), then 200 "ok"."""

    def __init__(self):
        self.requests: list[Received] = []
        self.answers: list[tuple] = []
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                    )
                    status, text, *more = receiver.answers.pop(0) if receiver.answers else (200, "ok")
                if receiver.delay:
                    time.sleep(receiver.delay)
                payload = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in (more[0] if more else {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sender gave up (a timeout test)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def answer(self, *answers: int | tuple) -> None:
        with self.lock:
            self.answers.extend(a if isinstance(a, tuple) else (a, f"answer {a}") for a in answers)

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.requests if r.event["type"] == event_type]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return list(self.requests)
            time.sleep(0.05)
        pytest.fail(f"the receiver got {len(self.requests)} requests, not {count}, within {timeout} s")


@pytest.fixture
def receiver():
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def api(merchant):
    return Api(create_api_key(merchant, name="Backend")[1])


@pytest.fixture
def other_api(other_merchant):
    return Api(create_api_key(other_merchant, name="Theirs")[1])


def endpoint_for(merchant, receiver, *events: str, path: str = "/hooks") -> WebhookEndpoint:
    return create_endpoint(merchant, url=receiver.url + path, events=list(events) or EventType.values)
