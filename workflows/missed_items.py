"""Missed items become problems: called from an org's workflow after items are decided."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.cycle import transitions
    from services.cycle.contracts import CycleOrgState, ItemSnapshot, ItemState
    from services.rectification.contracts import FLAG_ACTIVITY


async def flag_missed(st: CycleOrgState) -> None:
    """A missed item flags a problem (source indicator) once: deterministic id per item."""
    missed = [i for i in st.letter.items if i.state is ItemState.missed and i.id not in st.flagged]
    wid = workflow.info().workflow_id

    async def flag(i: ItemSnapshot) -> None:
        try:
            await workflow.execute_activity(
                FLAG_ACTIVITY,
                transitions.missed_item_problem(st, i, wid, workflow.now()),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=retries.STEP,
            )
        except ActivityError as exc:
            # Refused for good (e.g. the org was removed): the year goes on; the item stays
            # missed in the read model and the refusal is in the workflow's history.
            workflow.logger.warning("missed item %s not flagged: %s", i.id, exc.cause)
        st.flagged.append(i.id)

    if missed:
        await asyncio.gather(*(flag(i) for i in missed))
