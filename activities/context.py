"""What activities need at run time (engine, settings, Temporal client), per worker.

Activities are plain functions registered on a worker. Each worker installs an interceptor that
sets its ``ActivityDeps`` in a context variable around every activity it runs (the SDK copies the
context into the activity's thread), so two workers in one process — on different databases, say —
never see each other's dependencies, and no module holds a client.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from services.core.settings import Settings


@dataclass
class ActivityDeps:
    engine: Engine
    settings: Settings
    # For activities that start other workflows by business key (idempotent on retry).
    client: Client | None = None


_current: ContextVar[ActivityDeps | None] = ContextVar("dutyledger_activity_deps", default=None)
_fallback: ActivityDeps | None = None


def bind(deps: ActivityDeps) -> None:
    """Set the dependencies for activities run outside a worker (``ActivityEnvironment`` tests)."""
    global _fallback
    _fallback = deps


def deps() -> ActivityDeps:
    found = _current.get() or _fallback
    if found is None:
        raise RuntimeError("activity dependencies are not set; run activities through the worker")
    return found


class _ProvideDeps(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, provided: ActivityDeps) -> None:
        super().__init__(next)
        self._provided = provided

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        token = _current.set(self._provided)
        try:
            return await self.next.execute_activity(input)
        finally:
            _current.reset(token)


class DepsInterceptor(Interceptor):
    """Gives every activity of one worker that worker's dependencies."""

    def __init__(self, provided: ActivityDeps) -> None:
        self._provided = provided

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ProvideDeps(next, self._provided)
