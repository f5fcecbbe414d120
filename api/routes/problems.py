"""Problems and their rectification: intake, the human steps, reads, the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, status
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import PrincipalDep, SessionDep, StateDep, TemporalDep
from services.accounts import Principal, Role
from services.audit import AuditEventOut, ChainVerification, verify_chain
from services.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from services.orgs import Org, Person, get_org
from services.problems import (
    ACTION_BODIES,
    Problem,
    ProblemIn,
    ProblemOut,
    Severity,
    default_due,
    evidence_errors,
    get_problem,
    new_problem_id,
    new_snapshot,
    problem_out,
    timeline,
    today_in,
)
from services.rectification_models import ActionRequest
from services.rectification_rules import (
    RULES,
    Action,
    Actor,
    Flags,
    RectState,
    allowed_actions,
    illegal_reason,
)
from services.settings import Settings
from workflows.rectification import RectificationWorkflow
from workflows.starters import rect_workflow_id, start_rectification

router = APIRouter(prefix="/api/v1", tags=["problems"])

OVERSEERS = (Role.committee, Role.admin)


async def create_problem(
    session: Session,
    temporal: Client,
    settings: Settings,
    body: ProblemIn,
    problem_id: str,
    created_by: str,
) -> ProblemOut:
    """Start the problem's rectification and return it once it is in the read model."""
    org = get_org(session, body.org_id)
    snapshot = new_snapshot(settings, org, body, problem_id, created_by, datetime.now(UTC))
    session.commit()  # give the connection back to the pool while Temporal works
    await start_rectification(temporal, settings, snapshot)
    session.expire_all()
    return problem_out(get_problem(session, problem_id), datetime.now(UTC))


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
    problem_id = new_problem_id(principal.account_id, idempotency_key)
    existing = session.get(Problem, problem_id)
    if existing is not None:
        return problem_out(existing, datetime.now(UTC))
    return await create_problem(
        session, temporal, state.settings, body, problem_id, principal.account_id
    )


def _visible(session: Session, principal: Principal, problem_id: str) -> Problem:
    p = get_problem(session, problem_id)
    if not principal.in_scope(p.org_path):
        raise Forbidden(f"problem {problem_id!r} belongs to an org outside this account's scope")
    return p


@router.get("/problems/{problem_id}")
def get_one(problem_id: str, session: SessionDep, principal: PrincipalDep) -> ProblemOut:
    return problem_out(_visible(session, principal, problem_id), datetime.now(UTC))


@router.get("/problems/{problem_id}/timeline")
def get_timeline(
    problem_id: str, session: SessionDep, principal: PrincipalDep
) -> list[AuditEventOut]:
    _visible(session, principal, problem_id)
    return timeline(session, problem_id)


def _authorize(action: Action, p: Problem, principal: Principal) -> None:
    _, actor = RULES[action]
    if actor is Actor.owner:
        if p.owner_person_id is None or principal.person_id != p.owner_person_id:
            raise Forbidden(
                f"only the owner ({p.owner_person_id or 'not yet assigned'}) may {action.value}"
            )
        return
    if principal.role not in OVERSEERS:
        raise Forbidden(
            f"role {principal.role.value!r} may not {action.value}; committee or admin may"
        )
    segregated = action in (Action.verify, Action.recheck)
    if segregated and principal.person_id is not None and principal.person_id == p.owner_person_id:
        raise Forbidden("the owner of a rectification can never verify it (segregation of duties)")


def _check_body(
    session: Session, settings: Settings, action: Action, p: Problem, body: BaseModel
) -> dict[str, Any]:
    data = body.model_dump(mode="json")
    errors: list[dict[str, str]] = []
    if action in (Action.confirm, Action.assign):
        owner = data.get("owner_person_id")
        if owner is None:
            org = session.get(Org, p.org_id)
            owner = org.head_person_id if org else None
            if owner is None:
                errors.append(
                    {"field": "owner_person_id", "message": "the org has no head; name the owner"}
                )
            data["owner_person_id"] = owner
        elif session.get(Person, owner) is None:
            errors.append({"field": "owner_person_id", "message": f"unknown person {owner!r}"})
    if action in (Action.progress, Action.completion):
        errors.extend(evidence_errors(session, data.get("evidence", []), p.org_path))
    if (
        action is Action.extension
        and p.due is not None
        and date.fromisoformat(data["new_due"]) <= p.due
    ):
        errors.append(
            {"field": "new_due", "message": f"must be after the current due date {p.due}"}
        )
    if action in (Action.reopen, Action.recheck):
        data["due"] = default_due(settings, Severity(p.severity), today_in(settings)).isoformat()
    if errors:
        raise Invalid(f"invalid {action.value}", errors=errors)
    return data


@router.post("/problems/{problem_id}/{action}")
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
    try:
        act = Action(action)
    except ValueError:
        raise NotFound(
            f"unknown action {action!r}; one of {', '.join(a.value for a in Action)}",
            field="action",
        ) from None
    p = _visible(session, principal, problem_id)
    # Scope, then the state (409 whoever asks), then the role: the workflow re-checks all three.
    flags = Flags(extension_pending=p.extension_pending, recheck_open=p.recheck_open)
    reason = illegal_reason(act, RectState(p.state), flags)
    if reason is not None:
        allowed = [a.value for a in allowed_actions(RectState(p.state), flags)]
        raise Conflict(reason, state=p.state, allowed_actions=allowed)
    _authorize(act, p, principal)
    try:
        parsed = ACTION_BODIES[act].model_validate(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(x) for x in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        raise Invalid(f"invalid {act.value}", errors=errors) from None
    data = _check_body(session, state.settings, act, p, parsed)
    handle = temporal.get_workflow_handle_for(
        RectificationWorkflow.run, rect_workflow_id(problem_id)
    )
    req = ActionRequest(
        action=act, actor=principal.account_id, actor_person_id=principal.person_id, body=data
    )
    session.commit()  # give the connection back to the pool while Temporal works
    try:
        await handle.execute_update(RectificationWorkflow.act, req)
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc, session, problem_id) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(
                f"{act.value!r} is not allowed: the rectification is finished (state {p.state!r}); "
                "allowed now: none",
                state=p.state,
                allowed_actions=[],
            ) from None
        raise Unavailable(f"Temporal refused the update: {exc.message}") from None
    session.expire_all()
    return problem_out(get_problem(session, problem_id), datetime.now(UTC))


def _update_error(exc: WorkflowUpdateFailedError, session: Session, problem_id: str) -> Exception:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        if cause.type == "IllegalTransition":
            session.expire_all()  # the state may have moved (a concurrent step won): report it
            p = get_problem(session, problem_id)
            flags = Flags(extension_pending=p.extension_pending, recheck_open=p.recheck_open)
            allowed = [a.value for a in allowed_actions(RectState(p.state), flags)]
            return Conflict(cause.message, state=p.state, allowed_actions=allowed)
        if cause.type == "Forbidden":
            return Forbidden(cause.message)
    return Unavailable(f"the change could not be applied; retry later ({cause})")


@router.get("/audit/verify")
def audit_verify(session: SessionDep, principal: PrincipalDep) -> ChainVerification:
    """Recompute the whole audit hash chain; name the first modified, inserted or deleted event."""
    principal.require_role(Role.auditor, Role.admin)
    return verify_chain(session)
