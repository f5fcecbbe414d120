"""Problems and their rectification: intake, the human steps, reads, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, status

from api.deps import PrincipalDep, SessionDep, StateDep, TemporalDep
from api.steps import act_on_problem, visible_problem
from services.accounts.models import Role
from services.audit.chain import AuditEventOut
from services.core.errors import Invalid
from services.cycle.access import check_problem_links
from services.org.queries import get_org
from services.rectification import client as rectification
from services.rectification.contracts import ACTION_BODIES, ProblemIn
from services.rectification.models import Problem
from services.rectification.store import get_problem, new_problem_id, same_request, timeline
from services.rectification.views import ProblemOut, problem_out

router = APIRouter(prefix="/api/v1", tags=["problems"])

OVERSEERS = (Role.committee, Role.admin)


@router.post("/problems", status_code=status.HTTP_201_CREATED)
async def post_problem(
    body: ProblemIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ProblemOut:
    """Flag a problem; its rectification workflow starts. Send `Idempotency-Key` to retry safely."""
    principal.require_role(*OVERSEERS)
    principal.require_scope(get_org(session, body.org_id))
    check_problem_links(session, body)
    problem_id = new_problem_id(principal.account_id, idempotency_key)
    existing = session.get(Problem, problem_id)
    if existing is not None:
        if not same_request(existing, body):
            raise Invalid(
                "this Idempotency-Key was used to flag a different problem; use a new key",
                errors=[{"field": "Idempotency-Key", "message": f"already used for {problem_id}"}],
            )
        return problem_out(existing, datetime.now(UTC))
    return await rectification.open_problem(
        session, temporal, state.settings, body, problem_id, principal.account_id
    )


@router.get("/problems/{problem_id}")
def get_one(problem_id: str, session: SessionDep, principal: PrincipalDep) -> ProblemOut:
    return problem_out(visible_problem(session, principal, problem_id), datetime.now(UTC))


@router.get("/problems/{problem_id}/timeline")
def get_timeline(
    problem_id: str, session: SessionDep, principal: PrincipalDep
) -> list[AuditEventOut]:
    visible_problem(session, principal, problem_id)
    return timeline(session, problem_id)


def _action_bodies_schema() -> dict[str, Any]:
    """The body of each action, documented as the real models (the path names which one)."""
    variants = [
        {**model.model_json_schema(), "title": f"{action.value}: {model.__name__}"}
        for action, model in ACTION_BODIES.items()
    ]
    return {"oneOf": variants}


@router.post(
    "/problems/{problem_id}/{action}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _action_bodies_schema()}},
        }
    },
)
async def post_action(
    problem_id: str,
    action: str,
    body: dict[str, Any],
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
) -> ProblemOut:
    """One step of the rectification: confirm, dismiss, assign, plan, approve-plan, return-plan,
    progress, extension, approve-extension, deny-extension, completion, verify, reopen, recheck."""
    await act_on_problem(session, temporal, state.settings, principal, problem_id, action, body)
    return problem_out(get_problem(session, problem_id), datetime.now(UTC))
