"""What activities need at run time: the read model's engine, the settings and, for the ones that
start workflows, the worker's Temporal client.

Activities are methods of one class per domain, built with these dependencies by the worker
(``api/worker.py``) or by a test: no module holds a client or an engine, so two workers in one
process (on different databases, say) never see each other's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from temporalio.client import Client

from services.core.settings import Settings


@dataclass
class ActivityDeps:
    engine: Engine
    settings: Settings
    client: Client | None = None  # for activities that start workflows by business key

    def temporal(self) -> Client:
        if self.client is None:
            raise RuntimeError("this activity needs the worker's Temporal client")
        return self.client
