"""The API starts whatever else is down: when Temporal cannot be reached at start, a background
task keeps trying (exponential backoff, capped) and attaches the client the moment it connects,
so the API recovers without a restart. Until then writes answer 503 and ``/readyz`` says why."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from api.deps import AppState
from services.core.logging import get_logger
from services.core.temporal import connect_patiently

log = get_logger(__name__)


async def attach_temporal(state: AppState) -> None:
    def failed(attempt: int, exc: Exception) -> None:
        state.temporal_status = f"connecting (attempt {attempt}): {type(exc).__name__}: {exc}"
        log.warning("temporal_unreachable", attempt=attempt, error=str(exc)[:300])

    state.temporal = await connect_patiently(
        state.settings, on_failure=failed, tracing=state.tracing
    )
    state.temporal_status = ""
    log.info("temporal_connected", address=state.settings.resolved_temporal_address)


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
