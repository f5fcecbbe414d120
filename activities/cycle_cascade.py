"""The cascade's step and the annual launch: activities that start org workflows by business key.

``issue_child_letters`` starts one page (≤ 500) of an org's direct children's workflows
(``cycle:{cycle}:org:{child}``), each of which issues its own letter. Starting is idempotent (a
child already started is found, not started again), so a retried page, a replayed parent or a
worker killed mid-page never issues a letter twice. The workflow is started by its type name:
this module may import the workflow module, not the other way round."""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.context import deps
from services.core.db import session_scope
from services.core.errors import Invalid, NotFound
from services.cycle.client import CycleAlreadyLaunched, start_cycle
from services.cycle.contracts import (
    ISSUE_CHILDREN_ACTIVITY,
    LAUNCH_ACTIVITY,
    ChildPage,
    ChildPageInput,
    CycleRecord,
    LaunchInput,
    LaunchResult,
    cycle_id_for,
    org_workflow_id,
)
from services.cycle.store import CycleIn, checked_plan, child_org_ids

log = structlog.get_logger(__name__)


CYCLE_ORG_WORKFLOW = "CycleOrgWorkflow"


STARTS_IN_FLIGHT = 16  # concurrent start requests: fast, without flooding the server


@activity.defn(name=ISSUE_CHILDREN_ACTIVITY)
async def issue_child_letters(inp: ChildPageInput) -> ChildPage:
    d = deps()
    if d.client is None:
        raise RuntimeError("issue_child_letters needs the worker's Temporal client")
    client = d.client
    with session_scope(d.engine) as session:
        children = child_org_ids(session, inp.org_id, inp.after, inp.limit)
    gate = asyncio.Semaphore(STARTS_IN_FLIGHT)
    started = 0

    async def start(child: str) -> None:
        nonlocal started
        async with gate:
            try:
                await client.start_workflow(
                    CYCLE_ORG_WORKFLOW,
                    {"cycle_id": inp.cycle_id, "org_id": child},
                    id=org_workflow_id(inp.cycle_id, child),
                    task_queue=d.settings.temporal_task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
                started += 1
            except WorkflowAlreadyStartedError:
                pass  # a retry: that child's letter exists already
            activity.heartbeat(child)

    await asyncio.gather(*(start(c) for c in children))
    log.info("child_letters_issued", org_id=inp.org_id, page=len(children), started=started)
    return ChildPage(
        started=started,
        last=children[-1] if children else inp.after,
        done=len(children) < inp.limit,
    )


@activity.defn(name=LAUNCH_ACTIVITY)
async def launch_cycle(inp: LaunchInput) -> LaunchResult:
    """What ``POST /api/v1/cycles`` does, for the annual schedule; idempotent per root and year."""
    d = deps()
    if d.client is None:
        raise RuntimeError("launch_cycle needs the worker's Temporal client")
    body = CycleIn(root_org_id=inp.root_org_id, year=inp.year, title=inp.title, plan=inp.plan)
    try:
        with session_scope(d.engine) as session:
            _, plan = checked_plan(session, body)
    except (NotFound, Invalid) as exc:
        # The tree changed under the plan: retrying will not mend it; the failure is visible
        # on the scheduled workflow.
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
    record = CycleRecord(
        cycle_id=cycle_id_for(inp.root_org_id, inp.year),
        root_org_id=inp.root_org_id,
        year=inp.year,
        title=inp.title,
        plan=plan,
        launched_by=inp.launched_by,
        launched_at=inp.at,
    )
    try:
        await start_cycle(d.client, d.settings, record)
    except CycleAlreadyLaunched:
        return LaunchResult(cycle_id=record.cycle_id, launched=False)
    log.info("cycle_launched", cycle_id=record.cycle_id, by=inp.launched_by)
    return LaunchResult(cycle_id=record.cycle_id, launched=True)
