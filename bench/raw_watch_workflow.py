"""The raw deadline-burst baseline's workflow (bench/raw_reminders.py), in a module of its own
like bench/raw_workflow.py: the sandbox re-imports it for each run, so it imports temporalio
alone."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow


@workflow.defn(name="RawWatch")
class RawWatch:
    @workflow.run
    async def run(self, due: str) -> None:
        # As a rectification's DeadlineWatch: a timer to the slot, the slot as a local activity
        # in the same workflow task, then the timer to the next slot (days away).
        delay = datetime.fromisoformat(due) - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        await workflow.execute_local_activity(
            "raw_fire", workflow.now().isoformat(), start_to_close_timeout=timedelta(minutes=2)
        )
        await workflow.sleep(timedelta(days=3))
