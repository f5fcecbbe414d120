"""Starting workflows by business key from outside a workflow (API, CLI, activities).

Idempotent: starting ``rect:{problem_id}`` twice finds the first run (running or finished) and
starts nothing new, so a retried request or activity never creates a second rectification.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from services.deadlines import ReminderPolicy
from services.rectification_models import ProblemSnapshot
from services.settings import Settings
from workflows.rectification import RectificationWorkflow, RectInput


def rect_workflow_id(problem_id: str) -> str:
    return f"rect:{problem_id}"


async def start_rectification(
    client: Client,
    settings: Settings,
    snapshot: ProblemSnapshot,
    *,
    timezone: str | None = None,
    policy: ReminderPolicy | None = None,
) -> ProblemSnapshot | None:
    """Start (or find) the problem's workflow and wait until the problem is in the read model.

    Returns the recorded snapshot, or None when the workflow already finished long ago (the
    read model has it).
    """
    inp = RectInput(
        snapshot=snapshot,
        timezone=timezone or settings.timezone,
        policy=policy or ReminderPolicy(),
        recheck_days=settings.recheck_days,
    )
    wid = rect_workflow_id(snapshot.problem_id)
    handle: WorkflowHandle[RectificationWorkflow, ProblemSnapshot]
    try:
        handle = await client.start_workflow(
            RectificationWorkflow.run,
            inp,
            id=wid,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(RectificationWorkflow.run, wid)
    try:
        return await handle.execute_update(RectificationWorkflow.created_view)
    except RPCError:
        return None  # finished: nothing more to wait for
