"""Every answer's request id and security headers, and the request id in every log line.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware`` (``app.middleware``),
which runs the rest of the app in a task group of its own and streams the response through a
memory channel: py-spy on bench/rectification.py found those layers among the API's largest
costs per request. Here the app runs in the request's own task, and the headers are added to
the response's start message as it passes.
"""

from __future__ import annotations

import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def stamp(headers: MutableHeaders, request_id: str | None) -> None:
    """An answer's request id (when there is one) and security headers; also on the 500s
    Starlette answers from outside this middleware (``api/problems``)."""
    if request_id:
        headers["x-request-id"] = request_id
    headers.update(SECURITY_HEADERS)


class RequestContext:
    """The caller's ``X-Request-Id`` (or a new one) bound for the request's log lines and sent
    back, with the security headers, on every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp(MutableHeaders(scope=message), request_id)
            await send(message)

        await self.app(scope, receive, with_headers)
