"""The only code that starts or updates evaluation workflows (``eval:{id}``)."""

from __future__ import annotations

from contextlib import suppress

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.core.errors import Conflict, Unavailable
from services.core.failures import domain_error
from services.core.settings import Settings
from services.evaluation.contracts import (
    CLOSE_RATING_UPDATE,
    PUBLISH_UPDATE,
    WORKFLOW,
    EvaluationPlan,
    OrganizerStep,
    evaluation_workflow_id,
)


async def start(client: Client, settings: Settings, plan: EvaluationPlan) -> None:
    """Start the evaluation's workflow; starting it again (a retried request) is a no-op."""
    with suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            WORKFLOW,
            plan,
            id=evaluation_workflow_id(plan.evaluation_id),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Evaluation {plan.evaluation_id}: rating until {plan.rating_deadline}",
            static_details=(
                f"opens {plan.opens_on} · rating deadline {plan.rating_deadline} · debriefing "
                f"due {plan.debriefing_due or '-'} · timezone {plan.timezone}"
            ),
        )


async def _update(client: Client, evaluation_id: str, update: str, step: OrganizerStep) -> str:
    handle = client.get_workflow_handle(evaluation_workflow_id(evaluation_id))
    try:
        phase: str = await handle.execute_update(update, step, result_type=str)
        return phase
    except WorkflowUpdateFailedError as exc:
        raise domain_error(exc.cause) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict("the evaluation has ended", state="closed") from None
        raise Unavailable(f"Temporal refused the update: {exc.message}") from None


async def close_rating(client: Client, evaluation_id: str, step: OrganizerStep) -> str:
    return await _update(client, evaluation_id, CLOSE_RATING_UPDATE, step)


async def publish(client: Client, evaluation_id: str, step: OrganizerStep) -> str:
    return await _update(client, evaluation_id, PUBLISH_UPDATE, step)
