"""Launching a cycle from outside a workflow (the API, the annual schedule's activity).

Apart from ``workflows.starters`` because the cycle's workflow imports ``activities.problems``,
which imports ``workflows.starters``.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.cycle_models import CycleRecord, LetterSnapshot, org_workflow_id
from services.settings import Settings
from workflows.cycle_org import CycleOrgInput, CycleOrgWorkflow


class CycleAlreadyLaunched(Exception):
    """The root's cycle for that year exists (running or finished): nothing new was started."""

    def __init__(self, cycle_id: str) -> None:
        super().__init__(cycle_id)
        self.cycle_id = cycle_id


async def start_cycle(client: Client, settings: Settings, launch: CycleRecord) -> LetterSnapshot:
    """Start the root org's workflow (which records the cycle) and wait for the root's letter.

    The workflow id is the business key ``cycle:{root}-{year}:org:{root}`` and ids are never
    reused, so launching the same root and year twice raises ``CycleAlreadyLaunched``.
    """
    wid = org_workflow_id(launch.cycle_id, launch.root_org_id)
    try:
        handle = await client.start_workflow(
            CycleOrgWorkflow.run,
            CycleOrgInput(cycle_id=launch.cycle_id, org_id=launch.root_org_id, launch=launch),
            id=wid,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        raise CycleAlreadyLaunched(launch.cycle_id) from None
    return await handle.execute_update(CycleOrgWorkflow.issued_view)
