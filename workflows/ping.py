"""PingWorkflow: a round trip through the worker and its DB, for deep readiness checks."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.health import CheckDatabaseInput, CheckDatabaseResult, check_database


class PingInput(BaseModel):
    probe: str


@workflow.defn
class PingWorkflow:
    @workflow.run
    async def run(self, inp: PingInput) -> CheckDatabaseResult:
        return await workflow.execute_activity(
            check_database,
            CheckDatabaseInput(probe=inp.probe),
            start_to_close_timeout=timedelta(seconds=10),
        )
