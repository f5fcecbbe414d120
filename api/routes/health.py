"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import text

from api.deps import StateDep
from api.problems import problem
from services.core.temporal import ping_through_worker

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(
    state: StateDep,
    deep: bool = Query(False, description="also run a ping workflow through a worker"),
) -> dict[str, Any] | Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.to_thread(_ping_db, state)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"down: {type(exc).__name__}: {exc}"[:300]
    if state.temporal is None:
        checks["temporal"] = f"down: {state.temporal_status or 'connecting'}"
    else:
        try:
            await asyncio.wait_for(state.temporal.service_client.check_health(), timeout=5)
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"down: {type(exc).__name__}: {exc}"[:300]
        if deep and checks["temporal"] == "ok":
            try:
                await ping_through_worker(state.temporal, state.settings)
                checks["worker"] = "ok"
            except Exception as exc:
                checks["worker"] = f"down: {type(exc).__name__}: {exc}"[:300]
    down = {k: v for k, v in checks.items() if v != "ok"}
    if down:
        detail = "; ".join(f"{k} {v}" for k, v in down.items())
        return problem(503, "Not ready", detail, checks=checks)
    return {"status": "ready", "checks": checks}


def _ping_db(state: Any) -> None:
    with state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
