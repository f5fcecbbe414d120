"""The raw rectification baseline's workflow (bench/raw_rectification.py), in a module of its own
like bench/raw_workflow.py: the sandbox re-imports it for each run, so it imports temporalio
alone."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

# The steps a rectification takes from flagging to closure, each a validated Update.
STEPS = ("confirm", "plan", "approve-plan", "completion", "verify")


@workflow.defn(name="RawRectification")
class RawRectification:
    def __init__(self) -> None:
        self.created = False
        self.done: list[str] = []

    @workflow.run
    async def run(self, problem_id: str) -> None:
        await workflow.execute_activity(
            "raw_persist", f"{problem_id}:flag", start_to_close_timeout=timedelta(seconds=10)
        )
        self.created = True
        await workflow.wait_condition(lambda: len(self.done) == len(STEPS))
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.update
    async def created_view(self) -> bool:
        await workflow.wait_condition(lambda: self.created)
        return True

    @workflow.update
    async def act(self, step: str) -> int:
        await workflow.execute_activity(
            "raw_persist", step, start_to_close_timeout=timedelta(seconds=10)
        )
        self.done.append(step)
        return len(self.done)

    @act.validator
    def _in_order(self, step: str) -> None:
        if len(self.done) >= len(STEPS) or STEPS[len(self.done)] != step:
            raise ApplicationError(f"{step!r} is not the next step")
