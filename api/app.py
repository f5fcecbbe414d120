"""The FastAPI application: thin routes over services/ and the Temporal client.

One DB engine and one Temporal client per process, made in the lifespan (or handed in by tests and
by ``dutyledger dev``, which shares them with the worker).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api import problems as problem_json
from api.console import accountability as console_accountability
from api.console import cycles as console_cycles
from api.console import evaluations as console_evaluations
from api.console import ledger as console_ledger
from api.console import letters as console_letters
from api.console import orgs as console_orgs
from api.console import public as console_public
from api.console import signin as console_signin
from api.console import verify as console_verify
from api.console import work as console_work
from api.console.render import HERE as CONSOLE_DIR
from api.deps import AppState
from api.limits import BodyLimit, SlidingWindow
from api.metrics import ApiMetrics, RequestMetrics
from api.reconnect import attach_temporal
from api.reconnect import stop as stop_attaching
from api.request_context import RequestContext
from api.routes import (
    accountability,
    accounts,
    audit,
    changes,
    commitments,
    cycles,
    evaluations,
    evidence,
    health,
    inbox,
    items,
    ledger,
    letters,
    orgs,
    plans,
    problems,
    reports,
    webhooks,
    years,
)
from api.routes.orgs import MAX_IMPORT_BYTES
from services.core.db import make_engine, session_scope
from services.core.logging import get_logger
from services.core.settings import Settings
from services.core.tracing import Tracing
from services.integrity.keys import signing_key

log = get_logger(__name__)


# Every router of the API, in the order their paths are matched.
ROUTERS = (
    health.router,
    orgs.router,
    changes.router,
    accounts.router,
    inbox.router,
    ledger.router,
    problems.router,
    evidence.router,
    reports.router,
    reports.public,
    years.router,
    cycles.router,
    plans.router,
    letters.router,
    items.router,
    commitments.router,
    commitments.public,
    evaluations.router,
    evaluations.people,
    evaluations.public,
    accountability.router,
    audit.router,
    webhooks.router,
)


CONSOLE_STATIC = CONSOLE_DIR / "static"

# On every response: never sniff a type, never be framed, never leak the URL as a referrer.
CONSOLE_ROUTERS = [
    console_signin.router,
    console_work.router,
    console_letters.router,
    console_public.router,
    console_cycles.router,
    console_ledger.router,
    console_verify.router,
    console_evaluations.router,
    console_accountability.router,
    console_orgs.router,
]


def _bootstrap_admin(settings: Settings, engine: Engine) -> None:
    if settings.bootstrap_admin_token is not None:
        from services.accounts.store import ensure_bootstrap_admin

        with session_scope(engine) as session:
            if ensure_bootstrap_admin(session, settings.bootstrap_admin_token.get_secret_value()):
                log.info("bootstrap_admin_created")


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    temporal: Client | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    signing_key(settings)  # production settings without the audit key refuse to start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        eng = engine or make_engine(settings.resolved_database_url)
        if tracing is not None and own_engine:
            tracing.instrument_engine(eng)
        state = AppState(settings=settings, engine=eng, temporal=temporal, tracing=tracing)
        app.state.dutyledger = state
        # Temporal down at start: serve reads now, attach it in the background when it comes.
        attaching = None if temporal is not None else asyncio.create_task(attach_temporal(state))
        _bootstrap_admin(settings, eng)
        stop = asyncio.Event()
        flushing = asyncio.create_task(state.usage.keep_flushing(eng, stop))
        yield
        stop.set()
        await flushing  # its last round writes what was noted
        await stop_attaching(attaching)
        if own_engine:
            eng.dispose()

    app = FastAPI(
        title="dutyledger",
        version="1",
        summary="Responsibility lists and rectification tracking on durable workflows",
        lifespan=lifespan,
    )
    problem_json.install(app)
    app.add_middleware(RequestContext)
    _observed(app, settings, tracing)
    for router in ROUTERS:
        app.include_router(router, responses=problem_json.ERROR_RESPONSES)
    for router in CONSOLE_ROUTERS:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=CONSOLE_STATIC), name="console-static")
    app.state.report_limiter = SlidingWindow()
    app.state.ballot_limiter = SlidingWindow()
    app.state.signin_limiter = SlidingWindow()
    # Outermost: a body larger than any endpoint takes is refused before it is read or the
    # caller authenticated (evidence is the largest; imports and JSON bodies are smaller).
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes(settings))
    return app


def _observed(app: FastAPI, settings: Settings, tracing: Tracing | None) -> None:
    """Traces (when configured) and ``/metrics``: requests, latencies and the work owed."""
    if tracing is not None:
        tracing.instrument_app(app)
    metrics = ApiMetrics(lambda: app.state.dutyledger.engine)
    app.add_middleware(RequestMetrics, metrics=metrics)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        """Prometheus text (counts only; with DUTYLEDGER_METRICS_TOKEN set, for its bearer)."""
        return metrics.exposition(request, token)


def max_body_bytes(settings: Settings) -> int:
    """The largest body any endpoint accepts, plus room for multipart framing."""
    return max(settings.evidence_max_bytes, MAX_IMPORT_BYTES) + 64 * 1024
