"""Limits: a per-client sliding window (public reports, console sign-in), and a request size
limit applied before anything else (authentication included): a client that
sends more than the largest body any endpoint takes gets 413 before the body is read, so an
anonymous 300 MB POST costs the server nothing."""

from __future__ import annotations

import json
import time
from collections import deque

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.errors import RateLimited

_PROBLEM = "application/problem+json"


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # a chunked body with no length that runs over
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Payload too large",
                "status": 413,
                "detail": f"the request body is larger than {self.max_bytes} bytes",
                "instance": scope.get("path", ""),
            }
        ).encode()
        headers = [
            (b"content-type", _PROBLEM.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class SlidingWindow:
    """Per-client request counter over the last minute. In-process: each API replica counts its
    own clients (put a shared limiter in the load balancer when running many replicas)."""

    def __init__(self) -> None:
        self.hits: dict[str, deque[float]] = {}

    def allow(self, key: str, limit: int, window: float = 60.0) -> float | None:
        """None if allowed; otherwise seconds until the next slot frees up."""
        now = time.monotonic()
        q = self.hits.setdefault(key, deque())
        while q and q[0] <= now - window:
            q.popleft()
        if len(q) >= limit:
            return window - (now - q[0])
        q.append(now)
        if len(self.hits) > 100_000:  # forget idle clients
            self.hits = {k: v for k, v in self.hits.items() if v}
        return None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def throttle_public_reports(request: Request, per_minute: int) -> str:
    """429 when this address filed ``per_minute`` reports in the last minute (from the API or
    the console's form: one bucket); returns the address."""
    return _throttle(request, request.app.state.report_limiter, per_minute, "reports")


def throttle_public_ballots(request: Request, per_minute: int) -> str:
    """The same for the public's evaluation ballots, in a bucket of their own."""
    return _throttle(request, request.app.state.ballot_limiter, per_minute, "ballots")


def _throttle(request: Request, limiter: SlidingWindow, per_minute: int, what: str) -> str:
    client = client_address(request)
    wait = limiter.allow(client, per_minute)
    if wait is not None:
        raise RateLimited(
            f"too many {what} from this address; try again later", retry_after=int(wait) + 1
        )
    return client
