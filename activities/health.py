"""Activity behind the ping workflow: proves a worker is polling and can reach the read model."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import text
from temporalio import activity

from activities.context import deps


class CheckDatabaseInput(BaseModel):
    probe: str


class CheckDatabaseResult(BaseModel):
    probe: str
    dialect: str
    worker_identity: str


@activity.defn
def check_database(inp: CheckDatabaseInput) -> CheckDatabaseResult:
    engine = deps().engine
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return CheckDatabaseResult(
        probe=inp.probe,
        dialect=engine.dialect.name,
        worker_identity=activity.info().workflow_id or "",
    )
