"""A background loop of the API or worker: blocking work run in a thread at an interval until
told to stop, a failure logged and the loop going on (it outlives a database outage)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from services.core.logging import get_logger

log = get_logger(__name__)


async def repeat(
    work: Callable[[], object],
    every: float,
    stop: asyncio.Event,
    failed: str,
    *,
    wait_first: bool = False,
) -> None:
    """``work`` every ``every`` seconds until ``stop`` is set (``wait_first``: the interval
    comes before each run, so a last run follows the stop); a failure is logged as ``failed``."""

    async def pause() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)

    while not stop.is_set():
        if wait_first:
            await pause()
        try:
            await asyncio.to_thread(work)
        except Exception as exc:
            log.warning(failed, error=str(exc))
        if not wait_first:
            await pause()
