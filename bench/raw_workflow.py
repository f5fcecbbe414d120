"""The raw baseline's workflow (bench/raw_cascade.py), in a module of its own: the SDK's sandbox
re-imports a workflow's module for each run, as it does dutyledger's, so it imports temporalio
alone."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError


@workflow.defn(name="RawOrg")
class RawOrg:
    def __init__(self) -> None:
        self.signed: str | None = None

    @workflow.run
    async def run(self, org_id: str) -> None:
        await workflow.execute_activity(
            "raw_issue", org_id, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.signed is not None)
        await workflow.execute_activity(
            "raw_start_children", org_id, start_to_close_timeout=timedelta(minutes=10)
        )

    @workflow.update
    async def sign(self, content_hash: str) -> str:
        await workflow.execute_activity(
            "raw_record_sign", content_hash, start_to_close_timeout=timedelta(seconds=10)
        )
        self.signed = content_hash
        return content_hash

    @sign.validator
    def _check(self, content_hash: str) -> None:
        if self.signed is not None or not content_hash:
            raise ApplicationError("already signed, or no hash")
