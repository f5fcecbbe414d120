"""The only code that starts or updates rectification workflows (API, CLI, activities).

Typed both ways: it sends contracts and returns snapshots, and turns a workflow's refusal into
the domain error the rule raised (``services.core.failures``). Starting ``rect:{problem_id}``
twice finds the first run (running or finished) and starts nothing new, so a retried request or
activity never creates a second rectification.
"""

from __future__ import annotations

import contextlib

from sqlmodel import Session
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.core.clock import utcnow
from services.core.errors import Conflict, Unavailable
from services.core.failures import domain_error
from services.core.queues import human_queue_of
from services.core.settings import Settings
from services.deadlines.contracts import ReminderPolicy
from services.org.queries import get_org
from services.rectification.contracts import (
    ACT_UPDATE,
    CREATED_UPDATE,
    WORKFLOW,
    ActionRequest,
    ProblemIn,
    ProblemSnapshot,
    RectInput,
    rect_workflow_id,
)
from services.rectification.store import get_problem, new_snapshot
from services.rectification.views import ProblemOut, problem_out


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
        search_attributes=settings.temporal_search_attributes,
    )
    wid = rect_workflow_id(snapshot.problem_id)
    s = snapshot
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            WORKFLOW,
            inp,
            id=wid,
            # On the people's queue, where each step's write runs in the worker that accepted
            # the step (services.core.queues); runs started before stay where they are.
            task_queue=human_queue_of(settings.temporal_task_queue),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # What the Temporal UI lists beside the bare id.
            static_summary=f"Rectification {s.problem_id} of {s.org_id}: {s.title}"[:200],
            static_details=(
                f"org {s.org_id} ({s.org_path}) · source {s.source} · severity {s.severity} · "
                f"category {s.category} · due {s.due or '-'} · cycle {s.cycle_id or '-'}"
            ),
        )
    try:
        recorded: ProblemSnapshot = await client.get_workflow_handle(wid).execute_update(
            CREATED_UPDATE, result_type=ProblemSnapshot
        )
        return recorded
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None  # finished: nothing more to wait for
        # The server went away mid-call (found by the crash test): whether the problem is in
        # the read model yet is unknown, so the client asks again (same Idempotency-Key).
        raise Unavailable(f"Temporal did not answer: {exc.message}; retry") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable("Temporal did not answer in time; retry") from None


async def open_problem(
    session: Session,
    client: Client,
    settings: Settings,
    body: ProblemIn,
    problem_id: str,
    created_by: str,
) -> ProblemOut:
    """Flag a problem: start its rectification and return it once it is in the read model."""
    org = get_org(session, body.org_id)
    snapshot = new_snapshot(settings, org, body, problem_id, created_by, utcnow())
    session.commit()  # give the connection back to the pool while Temporal works
    await start_rectification(client, settings, snapshot)
    session.expire_all()
    return problem_out(get_problem(session, problem_id), utcnow())


async def act(
    client: Client, problem_id: str, req: ActionRequest, update_id: str | None = None
) -> ProblemSnapshot:
    """One human step; a refusal comes back as the rule's ``Conflict``/``Forbidden``/``Invalid``.

    A finished rectification (its workflow completed) accepts nothing: 409 with no allowed action.
    """
    handle = client.get_workflow_handle(rect_workflow_id(problem_id))
    try:
        done: ProblemSnapshot = await handle.execute_update(
            ACT_UPDATE, req, id=update_id, result_type=ProblemSnapshot
        )
        return done
    except WorkflowUpdateFailedError as exc:
        raise domain_error(exc.cause) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(
                f"{req.action.value!r} is not allowed: the rectification is finished; "
                "allowed now: none",
                allowed_actions=[],
            ) from None
        raise Unavailable(f"Temporal refused the update: {exc.message}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable("Temporal did not answer in time; retry") from None
