"""A worker's own health endpoints, for process supervisors and Kubernetes probes, on
``DUTYLEDGER_WORKER_HEALTH_ADDRESS``: ``/livez`` answers while the process's event loop runs
(restart it when it does not), ``/readyz`` only once it is connected to Temporal and its
database answers (503 naming what is missing). Served from the first moment, so a worker
waiting for Temporal is alive but not ready rather than silent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.runtime import quiet_server


@dataclass
class WorkerHealth:
    engine: Engine
    temporal: str = "connecting"  # "connected" once the client is up

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/livez", self._live), Route("/readyz", self._ready)],
        )

    async def _live(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def _ready(self, request: Request) -> JSONResponse:
        missing = []
        if self.temporal != "connected":
            missing.append(f"temporal: {self.temporal}")
        try:
            await asyncio.to_thread(self._ping_database)
        except Exception as exc:  # any failure means "not ready", never a crash of the probe
            missing.append(f"database: {type(exc).__name__}")
        if missing:
            return JSONResponse({"status": "not ready", "detail": "; ".join(missing)}, 503)
        return JSONResponse({"status": "ready"})

    def _ping_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def serve_health(health: WorkerHealth, address: str) -> asyncio.Task[None]:
    """Serve the endpoints in the background on ``host:port``."""
    host, _, port = address.rpartition(":")
    server = quiet_server(health.app(), host or "0.0.0.0", int(port))
    return asyncio.create_task(server.serve(), name="worker-health")
