"""The only code that starts a change workflow (API, CLI): start it by its key and wait for it.

The same key (an ``Idempotency-Key``) finds the change already started or done and answers its
result, so a retried request changes nothing twice. A refusal found by the change's activity
(the tree moved on since the API checked) comes back as the domain error it was.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

from services.changes.contracts import WORKFLOW, ChangeInput, ChangeResult, change_workflow_id
from services.core.errors import Unavailable
from services.core.failures import domain_error
from services.core.settings import Settings

WAIT = timedelta(seconds=60)  # a change telling hundreds of letters takes seconds, not minutes


async def run_change(client: Client, settings: Settings, inp: ChangeInput) -> ChangeResult:
    wid = change_workflow_id(inp.key)
    try:
        handle = await client.start_workflow(
            WORKFLOW,
            inp,
            id=wid,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            result_type=ChangeResult,
            static_summary=f"Change of {inp.subject.value} {inp.subject_id} by {inp.actor}",
            static_details=", ".join(f"{k} → {v}" for k, v in inp.fields.items())[:2000],
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(wid, result_type=ChangeResult)
    try:
        result: ChangeResult = await asyncio.wait_for(handle.result(), WAIT.total_seconds())
        return result
    except TimeoutError:
        raise Unavailable(
            "the change is still being applied; send it again with the same Idempotency-Key "
            "to get its result"
        ) from None
    except WorkflowFailureError as exc:
        cause = exc.cause.cause if isinstance(exc.cause, ActivityError) else exc.cause
        raise domain_error(cause) from None
