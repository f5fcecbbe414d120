"""PingWorkflow: a round trip through the worker and its DB, for deep readiness checks."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.core.health import (
        CHECK_DATABASE_ACTIVITY,
        PING_WORKFLOW,
        CheckDatabaseInput,
        CheckDatabaseResult,
        PingInput,
    )


@workflow.defn(name=PING_WORKFLOW)
class PingWorkflow:
    @workflow.run
    async def run(self, inp: PingInput) -> CheckDatabaseResult:
        result: CheckDatabaseResult = await workflow.execute_activity(
            CHECK_DATABASE_ACTIVITY,
            CheckDatabaseInput(probe=inp.probe),
            result_type=CheckDatabaseResult,
            start_to_close_timeout=timedelta(seconds=10),
        )
        return result
