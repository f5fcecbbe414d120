"""What activities need at run time (engine, settings), bound once when the worker starts.

Activities are plain functions registered on the worker; they reach the DB through this holder
instead of a module-level client, so tests and processes can each bind their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from temporalio.client import Client

from services.settings import Settings


@dataclass
class ActivityDeps:
    engine: Engine
    settings: Settings
    # For activities that start other workflows by business key (idempotent on retry).
    client: Client | None = None


_deps: ActivityDeps | None = None


def bind(deps: ActivityDeps) -> None:
    global _deps
    _deps = deps


def deps() -> ActivityDeps:
    if _deps is None:
        raise RuntimeError("activity dependencies are not bound; start activities via the worker")
    return _deps
