"""What activities need at run time: the read model's engine, the settings and, for the ones that
start workflows, the worker's Temporal client.

Activities are methods of one class per domain, built with these dependencies by the worker
(``api/worker.py``) or by a test: no module holds a client or an engine, so two workers in one
process (on different databases, say) never see each other's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client

from services.core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def write_activity(name: str) -> Callable[[F], F]:
    """An activity that writes one keyed change: never interrupted halfway when its attempt is
    given up (timed out or cancelled), its transaction ends on its own, and being keyed, a retry
    writes nothing twice."""
    return activity.defn(name=name, no_thread_cancel_exception=True)


async def heartbeating(work: Awaitable[T], every_seconds: float) -> T:
    """Await ``work`` (a computation in a thread) while heartbeating, so a lost worker is
    noticed within the heartbeat timeout rather than the activity's whole timeout."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=every_seconds)
        if done:
            return task.result()
        activity.heartbeat()


@dataclass
class ActivityDeps:
    engine: Engine
    settings: Settings
    client: Client | None = None  # for activities that start workflows by business key

    def temporal(self) -> Client:
        if self.client is None:
            raise RuntimeError("this activity needs the worker's Temporal client")
        return self.client
