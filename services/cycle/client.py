"""The only code that starts or updates the annual cycle's org workflows (API, activities).

Typed both ways: requests are contracts, results are snapshots, and a workflow's refusal comes
back as the domain error its rule raised (``services.core.failures``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.core.errors import Conflict, Unavailable
from services.core.failures import domain_error
from services.core.settings import Settings
from services.cycle.contracts import (
    ACKNOWLEDGE_UPDATE,
    AMEND_UPDATE,
    COMMIT_UPDATE,
    CONFIRM_UPDATE,
    DECIDE_UPDATE,
    ISSUED_UPDATE,
    PROGRESS_UPDATE,
    RETURN_UPDATE,
    SIGN_UPDATE,
    WORKFLOW,
    AmendRequest,
    CommitmentDecision,
    CommitmentRequest,
    CommitmentSnapshot,
    ConfirmRequest,
    CycleOrgInput,
    CycleRecord,
    LetterSnapshot,
    ProgressRequest,
    ReturnRequest,
    SignRequest,
    org_workflow_id,
)

Result = TypeVar("Result", bound=BaseModel)


class CycleAlreadyLaunched(Exception):
    """The root's cycle for that year exists (running or finished): nothing new was started."""

    def __init__(self, cycle_id: str) -> None:
        super().__init__(cycle_id)
        self.cycle_id = cycle_id


def summary(cycle_id: str, org_id: str) -> str:
    """What the Temporal UI lists beside an org workflow's id."""
    return f"Responsibility letter of {org_id} in cycle {cycle_id}: signature, items, year"


async def start_cycle(client: Client, settings: Settings, launch: CycleRecord) -> LetterSnapshot:
    """Start the root org's workflow (which records the cycle) and wait for the root's letter
    (the API's answer is read-your-write)."""
    wid = await start_root(client, settings, launch)
    letter: LetterSnapshot = await client.get_workflow_handle(wid).execute_update(
        ISSUED_UPDATE, result_type=LetterSnapshot
    )
    return letter


async def start_root(client: Client, settings: Settings, launch: CycleRecord) -> str:
    """Start the root org's workflow; its id. An activity calls this one, not waiting for the
    letter: the letter's own activities may need the slot the waiting one would hold.

    The workflow id is the business key ``cycle:{root}-{year}:org:{root}`` and ids are never
    reused, so launching the same root and year twice raises ``CycleAlreadyLaunched``.
    """
    wid = org_workflow_id(launch.cycle_id, launch.root_org_id)
    try:
        await client.start_workflow(
            WORKFLOW,
            CycleOrgInput(
                cycle_id=launch.cycle_id,
                org_id=launch.root_org_id,
                launch=launch,
                search_attributes=settings.temporal_search_attributes,
            ),
            id=wid,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=summary(launch.cycle_id, launch.root_org_id),
            static_details=f"{launch.title}: the root's letter, launched by {launch.launched_by}",
        )
    except WorkflowAlreadyStartedError:
        raise CycleAlreadyLaunched(launch.cycle_id) from None
    return wid


async def _update(
    client: Client,
    cycle_id: str,
    org_id: str,
    update: str,
    req: BaseModel,
    result_type: type[Result],
    update_id: str | None = None,
) -> Result:
    """Run one Update on the org's workflow; a refusal raises the rule's domain error. An
    ``update_id`` makes a repeat of the same step (a retry) run once."""
    handle = client.get_workflow_handle(org_workflow_id(cycle_id, org_id))
    try:
        result: Result = await handle.execute_update(
            update, req, id=update_id, result_type=result_type
        )
        return result
    except WorkflowUpdateFailedError as exc:
        raise domain_error(exc.cause) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(
                f"the cycle's year has closed for {org_id!r}: nothing can change any more",
                state="closed",
            ) from None
        raise Unavailable(f"Temporal refused the update: {exc.message}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable("Temporal did not answer in time; retry") from None


async def sign(client: Client, cycle_id: str, org_id: str, req: SignRequest) -> LetterSnapshot:
    return await _update(client, cycle_id, org_id, SIGN_UPDATE, req, LetterSnapshot)


async def acknowledge(
    client: Client, cycle_id: str, org_id: str, req: SignRequest
) -> LetterSnapshot:
    return await _update(client, cycle_id, org_id, ACKNOWLEDGE_UPDATE, req, LetterSnapshot)


async def return_letter(
    client: Client, cycle_id: str, org_id: str, req: ReturnRequest
) -> LetterSnapshot:
    return await _update(client, cycle_id, org_id, RETURN_UPDATE, req, LetterSnapshot)


async def amend(
    client: Client, cycle_id: str, org_id: str, req: AmendRequest, update_id: str | None = None
) -> LetterSnapshot:
    return await _update(client, cycle_id, org_id, AMEND_UPDATE, req, LetterSnapshot, update_id)


async def report_progress(
    client: Client, cycle_id: str, org_id: str, req: ProgressRequest
) -> LetterSnapshot:
    return await _update(client, cycle_id, org_id, PROGRESS_UPDATE, req, LetterSnapshot)


async def confirm_achievement(
    client: Client, cycle_id: str, org_id: str, req: ConfirmRequest
) -> LetterSnapshot:
    return await _update(client, cycle_id, org_id, CONFIRM_UPDATE, req, LetterSnapshot)


async def submit_commitment(
    client: Client, cycle_id: str, org_id: str, req: CommitmentRequest
) -> CommitmentSnapshot:
    return await _update(client, cycle_id, org_id, COMMIT_UPDATE, req, CommitmentSnapshot)


async def decide_commitment(
    client: Client, cycle_id: str, org_id: str, req: CommitmentDecision
) -> CommitmentSnapshot:
    return await _update(client, cycle_id, org_id, DECIDE_UPDATE, req, CommitmentSnapshot)


async def start_org_workflows(
    client: Client,
    settings: Settings,
    cycle_id: str,
    org_ids: list[str],
    on_each: Callable[[str], None] = lambda _: None,
    in_flight: int = 16,
) -> int:
    """Start the org workflows of ``org_ids`` (each issues its own letter), at most
    ``in_flight`` requests at once; one already started is found, not started again. Returns
    how many were started now; ``on_each`` is called per org (the activity heartbeats)."""
    gate = asyncio.Semaphore(in_flight)
    started = 0

    async def start(org_id: str) -> None:
        nonlocal started
        async with gate:
            try:
                await client.start_workflow(
                    WORKFLOW,
                    CycleOrgInput(
                        cycle_id=cycle_id,
                        org_id=org_id,
                        search_attributes=settings.temporal_search_attributes,
                    ),
                    id=org_workflow_id(cycle_id, org_id),
                    task_queue=settings.temporal_task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=summary(cycle_id, org_id),
                )
                started += 1
            except WorkflowAlreadyStartedError:
                pass  # a retry: that org's letter exists already
            on_each(org_id)

    await asyncio.gather(*(start(o) for o in org_ids))
    return started
