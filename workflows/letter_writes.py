"""How an org's workflow writes a step of its letter or of a commitment: one activity, keyed so
a retry or a replay writes nothing twice, then the workflow's state moves on. Workflow code."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.queues import human_queue

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.cycle import contracts as names
    from services.cycle import transitions
    from services.cycle.contracts import (
        CommitmentChange,
        CommitmentSnapshot,
        CycleOrgState,
        LetterChange,
        LetterSnapshot,
    )


async def write_letter(
    st: CycleOrgState,
    step: transitions.LetterStep,
    actor: str,
    retry: RetryPolicy = retries.PERSIST,
) -> LetterSnapshot:
    """Write the step; a human step's write gives up after a while (the API answers 503 and
    nothing changed) and runs on the human queue; the workflow's own steps pass
    ``retries.STEP`` and run on its own queue."""
    await workflow.execute_activity(
        names.PERSIST_LETTER_ACTIVITY,
        LetterChange(
            key=f"letter:{step.new.letter_id}:e{st.events + 1}",
            snapshot=step.new,
            action=step.action,
            actor=actor,
            at=workflow.now(),
            payload=step.payload,
            item_ids=step.item_ids,
            notify=step.tell,
        ),
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=retry,
        task_queue=human_queue() if retry is retries.PERSIST else None,
    )
    st.events += 1
    st.letter = step.new
    return step.new


async def write_commitment(
    st: CycleOrgState, step: transitions.CommitmentStep, actor: str
) -> CommitmentSnapshot:
    new = step.new
    await workflow.execute_activity(
        names.PERSIST_COMMITMENT_ACTIVITY,
        CommitmentChange(
            key=f"commitment:{new.commitment_id}:v{new.version}",
            snapshot=new,
            action=step.action,
            actor=actor,
            at=workflow.now(),
            payload=step.payload,
            notify=step.tell,
        ),
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=retries.PERSIST,
        task_queue=human_queue(),
    )
    st.commitments[new.commitment_id] = new
    return new
