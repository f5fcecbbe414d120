"""Problems and their rectification: intake, the human steps, reads, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, status
from sqlmodel import Session

from api.deps import PrincipalDep, SessionDep, StateDep, TemporalDep
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.audit.chain import AuditEventOut, ChainVerification, verify_chain
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.cycle.access import check_problem_links
from services.org.queries import get_org
from services.rectification import client as rectification
from services.rectification.contracts import ProblemIn
from services.rectification.models import Problem
from services.rectification.requests import action_request, parse_body
from services.rectification.rules import Action, Flags, RectState, check_action
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
    # Scope, then the state (409 whoever asks), then the role: the workflow re-checks the last two.
    check_action(
        act,
        RectState(p.state),
        Flags(extension_pending=p.extension_pending, recheck_open=p.recheck_open),
        p.owner_person_id,
        principal.person_id,
        principal.role.value,
    )
    parsed = parse_body(act, body)
    req = action_request(session, state.settings, act, p, parsed, principal)
    session.commit()  # give the connection back to the pool while Temporal works
    try:
        await rectification.act(temporal, problem_id, req)
    except Conflict as exc:
        exc.extra.setdefault("state", p.state)  # a finished workflow: the state it ended in
        raise
    session.expire_all()
    return problem_out(get_problem(session, problem_id), datetime.now(UTC))


@router.get("/audit/verify")
def audit_verify(session: SessionDep, principal: PrincipalDep) -> ChainVerification:
    """Recompute the whole audit hash chain; name the first modified, inserted or deleted event."""
    principal.require_role(Role.auditor, Role.admin)
    return verify_chain(session)
