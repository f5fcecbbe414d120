"""ChangeWorkflow: one change of an org or a person (``change:{key}``), and what must follow it.

The write and its audit event come first (one activity, idempotent by the change's key); then
the running letters that name the org's head are told to read their parties again, and a
leaver's rectifications go back to their orgs' heads. Being a workflow, what follows the write
happens even if the API that asked for it dies right after. Those two wait on other workflows'
Updates, so they run on the ``-waits`` twin (``workflows/queues.waits_queue``).
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.changes.contracts import (
        APPLY_ACTIVITY,
        HAND_BACK_ACTIVITY,
        TELL_LETTERS_ACTIVITY,
        WORKFLOW,
        Applied,
        ChangeInput,
        ChangeResult,
        HandBackInput,
        TellLetters,
    )
    from services.core import retries
    from workflows.queues import waits_queue


@workflow.defn(name=WORKFLOW)
class ChangeWorkflow:
    @workflow.run
    async def run(self, inp: ChangeInput) -> ChangeResult:
        applied: Applied = await workflow.execute_activity(
            APPLY_ACTIVITY,
            inp,
            result_type=Applied,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=retries.STEP,
        )
        result = ChangeResult(changed=applied.changed)
        waits = waits_queue() if applied.letters or applied.rectifications else None
        if applied.letters:
            result.letters_told = await workflow.execute_activity(
                TELL_LETTERS_ACTIVITY,
                TellLetters(key=inp.key, workflow_ids=applied.letters),
                result_type=int,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=retries.STEP,
                task_queue=waits,
            )
        if applied.rectifications:
            result.rectifications_handed_back = await workflow.execute_activity(
                HAND_BACK_ACTIVITY,
                HandBackInput(
                    key=inp.key,
                    person_id=inp.subject_id,
                    left_on=date.fromisoformat(applied.changed["left_on"][1]),
                    problem_ids=applied.rectifications,
                ),
                result_type=int,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=retries.STEP,
                task_queue=waits,
            )
        return result
