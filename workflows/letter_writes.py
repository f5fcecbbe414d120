"""How an org's workflow writes a step of its letter or of a commitment: one activity, keyed so
a retry or a replay writes nothing twice, then the workflow's state moves on. Workflow code."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.queues import STEP_WRITE_TIMEOUT, write_persons_step

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.cycle import contracts as names
    from services.cycle import transitions
    from services.cycle.contracts import (
        CommitmentChange,
        CommitmentSnapshot,
        CurrentParties,
        CycleOrgState,
        LetterChange,
        LetterSnapshot,
        OrgRef,
    )


async def write_letter(
    st: CycleOrgState,
    step: transitions.LetterStep,
    actor: str,
    retry: RetryPolicy = retries.PERSIST,
    task_queue: str | None = None,
) -> LetterSnapshot:
    """Write the step: a person's step (``retries.PERSIST``) through ``write_persons_step``;
    the workflow's own steps pass ``retries.STEP`` and run on ``task_queue`` (its own queue
    when None) until the database is back."""
    change = LetterChange(
        key=f"letter:{step.new.letter_id}:e{st.events + 1}",
        snapshot=step.new,
        action=step.action,
        actor=actor,
        at=workflow.now(),
        payload=step.payload,
        item_ids=step.item_ids,
        notify=step.tell,
    )
    if retry is retries.PERSIST:
        await write_persons_step(names.PERSIST_LETTER_ACTIVITY, change)
    else:
        await workflow.execute_activity(
            names.PERSIST_LETTER_ACTIVITY,
            change,
            start_to_close_timeout=STEP_WRITE_TIMEOUT,
            retry_policy=retry,
            task_queue=task_queue,
        )
    st.events += 1
    st.letter = step.new
    return step.new


async def read_parties(st: CycleOrgState, task_queue: str | None) -> CurrentParties:
    """Who heads the org and its parent now (a head changed mid-year)."""
    parties: CurrentParties = await workflow.execute_activity(
        names.READ_PARTIES_ACTIVITY,
        OrgRef(cycle_id=st.letter.cycle_id, org_id=st.letter.org_id),
        result_type=CurrentParties,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=retries.STEP,
        task_queue=task_queue,
    )
    return parties


async def write_commitment(
    st: CycleOrgState, step: transitions.CommitmentStep, actor: str
) -> CommitmentSnapshot:
    new = step.new
    await write_persons_step(
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
    )
    st.commitments[new.commitment_id] = new
    return new
