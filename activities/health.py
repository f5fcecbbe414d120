"""Activity behind the ping workflow: proves a worker is polling and can reach the read model."""

from __future__ import annotations

from sqlalchemy import text
from temporalio import activity

from activities.deps import ActivityDeps
from services.core.health import CHECK_DATABASE_ACTIVITY, CheckDatabaseInput, CheckDatabaseResult


class HealthActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=CHECK_DATABASE_ACTIVITY)
    def check_database(self, inp: CheckDatabaseInput) -> CheckDatabaseResult:
        engine = self.deps.engine
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return CheckDatabaseResult(
            probe=inp.probe,
            dialect=engine.dialect.name,
            worker_identity=activity.info().workflow_id or "",
        )
