"""Real protocol peers for notification tests: an SMTP server and a webhook receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.ports import free_port


@dataclass
class SmtpSink:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], path: str) -> Iterator[str]:
    """``handler`` on a loopback port in a thread; yields the URL of ``path`` on it."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class WebhookSink:
    secret: str
    fail_first: int = 0
    attempts: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_server(secret: str, fail_first: int = 0) -> Iterator[tuple[WebhookSink, str]]:
    sink = WebhookSink(secret=secret, fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with sink.lock:
                sink.attempts += 1
                if sink.attempts <= sink.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                want = "sha256=" + hmac.new(sink.secret.encode(), body, hashlib.sha256).hexdigest()
                legacy_ok = hmac.compare_digest(
                    want, self.headers.get("X-Dutyledger-Signature", "")
                )
                try:  # and per the Standard Webhooks spec, as a receiver using it would check
                    Webhook(sink.secret.encode()).verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    legacy_ok = False
                if not legacy_ok:
                    sink.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                sink.received.append(
                    {
                        "delivery": self.headers.get("X-Dutyledger-Delivery"),
                        "webhook_id": self.headers.get("webhook-id"),
                        **json.loads(body),
                    }
                )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler, "/hook") as url:
        yield sink, url


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class CapturingSink:
    """Every request as it came, and the statuses to answer in turn (then 204)."""

    answers: list[int]
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def capturing_server(answers: list[int] | None = None) -> Iterator[tuple[CapturingSink, str]]:
    """A receiver that verifies nothing itself: the test verifies what it captured, as a
    Standard Webhooks consumer would."""
    sink = CapturingSink(answers=list(answers or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with sink.lock:
                sink.requests.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = sink.answers.pop(0) if sink.answers else 204
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler, "/events") as url:
        yield sink, url
