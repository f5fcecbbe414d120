"""Prometheus metrics of the API on ``GET /metrics`` (the text exposition format, through
prometheus-client): requests by route template, method and status with a latency histogram,
and the gauges an operator alerts on, read from the read model at each scrape — open
rectifications by state and overdue level, letters still unsigned past their ``sign_by``,
ballots still owed in open ratings, notification and webhook deliveries failing or given up.

Each app has a registry of its own (tests build many apps in one process). The worker's metrics
are the Temporal SDK's own, on their own port (``services/core/temporal.py``).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.clock import deadline_instant
from services.cycle.models import Cycle, Letter
from services.cycle.plan import Calendar
from services.evaluation.models import Evaluation, EvaluationInvitation
from services.notify.models import DeliveryFailure
from services.rectification.models import OPEN_STATES, Problem
from services.webhooks.models import WebhookMessage

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CACHE_SECONDS = 15.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ApiMetrics:
    def __init__(self, engine: Callable[[], Engine]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dutyledger_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dutyledger_http_request_duration_seconds",
            "Time to answer, by route template and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(WorkGauges(engine))

    def exposition(self, request: Request, token: str | None) -> Response:
        """The text format; with ``DUTYLEDGER_METRICS_TOKEN`` set, only for that bearer."""
        if token is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return Response("metrics need the metrics token\n", status_code=401)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)


class RequestMetrics:
    """Counts and times every HTTP answer into an app's ``ApiMetrics``: a plain ASGI middleware
    (see api/request_context.py for why not ``BaseHTTPMiddleware``), timed to the answer's
    start, as before (a download's transfer is not the time to answer)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: float | None = None
        status = "500"  # what the outer error handler answers for an exception raised below

        async def observed(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = str(message["status"])
                answered = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            # The router leaves the matched route in the scope it was handed (this one).
            route = scope.get("route")
            # The template, never the path (a series per problem id), and a known method
            # (any token is a method to the HTTP parser: a series per invented one).
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(template, method, status).inc()
            ended = answered if answered is not None else time.perf_counter()
            self.metrics.latency.labels(template, method).observe(ended - started)


class WorkGauges(Collector):
    """What is owed and late, counted from the read model when Prometheus scrapes."""

    def __init__(self, engine: Callable[[], Engine], ttl: float = CACHE_SECONDS) -> None:
        self.engine = engine  # the app's, once its lifespan made it
        self.ttl = ttl
        self._kept: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        """The gauges, counted at most once per ``ttl`` (scrapes from several Prometheus
        servers, or anyone's, do not each cost the database its queries)."""
        now = time.monotonic()
        if self._kept is None or now - self._kept[0] > self.ttl:
            with Session(self.engine()) as s:
                counted = [self._problems(s), self._letters(s), self._ballots(s)]
                counted.extend(self._deliveries(s))
            self._kept = (now, counted)
        yield from self._kept[1]

    @staticmethod
    def _problems(s: Session) -> Metric:
        g = GaugeMetricFamily(
            "dutyledger_problems_open",
            "Open rectifications by state and overdue level (0: not overdue)",
            labels=["state", "overdue_level"],
        )
        rows = s.exec(
            select(Problem.state, Problem.overdue_level, func.count())
            .where(col(Problem.state).in_(sorted(OPEN_STATES)))
            .group_by(col(Problem.state), col(Problem.overdue_level))
        ).all()
        for state, level, n in rows:
            g.add_metric([state, str(level)], int(n))
        return g

    @staticmethod
    def _letters(s: Session) -> Metric:
        g = GaugeMetricFamily(
            "dutyledger_letters_unsigned_past_due",
            "Letters of running cycles not signed by the cycle's sign_by",
            labels=["cycle_id"],
        )
        now = datetime.now(UTC)
        for cycle in s.exec(select(Cycle).where(Cycle.state == "running")).all():
            sign_by = Calendar.model_validate(cycle.plan["calendar"]).sign_by
            if now <= deadline_instant(sign_by, cycle.timezone):
                g.add_metric([cycle.id], 0)
                continue
            n = s.exec(
                select(func.count())
                .select_from(Letter)
                .where(Letter.cycle_id == cycle.id, col(Letter.signed_version).is_(None))
            ).one()
            g.add_metric([cycle.id], int(n))
        return g

    @staticmethod
    def _ballots(s: Session) -> Metric:
        g = GaugeMetricFamily(
            "dutyledger_ballots_missing",
            "Ballots still owed in evaluations whose rating is open",
            labels=["evaluation_id"],
        )
        rows = s.exec(
            select(EvaluationInvitation.evaluation_id, func.count())
            .join(Evaluation, col(Evaluation.id) == col(EvaluationInvitation.evaluation_id))
            .where(Evaluation.phase == "rating", col(EvaluationInvitation.voted).is_(False))
            .group_by(col(EvaluationInvitation.evaluation_id))
        ).all()
        for evaluation_id, n in rows:
            g.add_metric([evaluation_id], int(n))
        return g

    @staticmethod
    def _deliveries(s: Session) -> Iterator[Metric]:
        for name, table, what in (
            ("dutyledger_notification_deliveries_failed", DeliveryFailure, "notification"),
            ("dutyledger_webhook_messages", WebhookMessage, "webhook"),
        ):
            g = GaugeMetricFamily(name, f"{what} deliveries by state", labels=["state"])
            rows = s.exec(
                select(table.state, func.count()).group_by(col(table.state))  # type: ignore[attr-defined]
            ).all()
            for state, n in rows:
                g.add_metric([state], int(n))
            yield g
