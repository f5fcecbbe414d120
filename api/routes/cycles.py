"""The annual cycle: launch it, follow its progress level by level."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlmodel import col, select

from api.deps import PageDep, PrincipalDep, SessionDep, StateDep, TemporalDep
from api.pagination import Page
from services.accounts.models import Role
from services.core.clock import today_in
from services.core.errors import Conflict, Forbidden, Invalid
from services.cycle.client import CycleAlreadyLaunched, start_cycle
from services.cycle.contracts import CycleRecord, cycle_id_for
from services.cycle.models import Cycle
from services.cycle.progress import CycleProgress, cycle_progress
from services.cycle.store import CycleIn, checked_plan, get_cycle
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["cycles"])


class Launched(BaseModel):
    cycle_id: str
    root_letter_id: str
    root_letter_hash: str


def _already(cycle: Cycle | None, cycle_id: str) -> Conflict:
    if cycle is None:
        return Conflict(f"cycle {cycle_id!r} was launched already", cycle_id=cycle_id)
    return Conflict(
        f"cycle {cycle.id!r} is already {cycle.state} (launched {cycle.launched_at:%Y-%m-%d} by "
        f"{cycle.launched_by}); the same root and year are launched once",
        cycle_id=cycle.id,
        state=cycle.state,
    )


@router.post("/cycles", status_code=status.HTTP_202_ACCEPTED)
async def launch(
    body: CycleIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
) -> Launched:
    """Launch the year's cycle for a root org: the root's letter is issued to its head."""
    principal.require_role(Role.committee, Role.admin)
    principal.require_scope(get_org(session, body.root_org_id))  # 403 before judging the plan
    root, plan = checked_plan(session, body)
    errors = []
    if plan.calendar.sign_by.year != body.year:
        errors.append(
            {"field": "plan.calendar.sign_by", "message": f"must fall in the year {body.year}"}
        )
    if plan.calendar.closes_on < today_in(state.settings.timezone):
        errors.append({"field": "plan.calendar.closes_on", "message": "is already past"})
    if errors:
        raise Invalid("the plan's calendar does not fit the cycle", errors=errors)
    cycle_id = cycle_id_for(root.id, body.year)
    existing = session.get(Cycle, cycle_id)
    if existing is not None:
        raise _already(existing, cycle_id)
    record = CycleRecord(
        cycle_id=cycle_id,
        root_org_id=root.id,
        year=body.year,
        title=body.title,
        plan=plan,
        launched_by=principal.account_id,
        launched_at=datetime.now(UTC),
    )
    session.commit()  # give the connection back to the pool while Temporal works
    try:
        letter = await start_cycle(temporal, state.settings, record)
    except CycleAlreadyLaunched:
        session.expire_all()
        raise _already(session.get(Cycle, cycle_id), cycle_id) from None
    return Launched(
        cycle_id=cycle_id, root_letter_id=letter.letter_id, root_letter_hash=letter.content_hash
    )


class CycleOut(BaseModel):
    cycle_id: str
    root_org_id: str
    year: int
    title: str
    state: str
    launched_at: datetime


@router.get("/cycles")
def list_cycles(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    year: Annotated[int | None, Query()] = None,
) -> Page[CycleOut]:
    """Cycles whose tree the caller can see (its scope is within or above the root)."""
    scope = principal.scope_path
    visible = [
        c
        for c in session.exec(select(Cycle).order_by(col(Cycle.year).desc(), col(Cycle.id))).all()
        if (year is None or c.year == year)
        and (c.root_path.startswith(scope) or scope.startswith(c.root_path))
    ]
    rows = visible[page.offset : page.offset + page.page_size]
    return Page(
        items=[
            CycleOut(
                cycle_id=c.id,
                root_org_id=c.root_org_id,
                year=c.year,
                title=c.title,
                state=c.state,
                launched_at=c.launched_at,
            )
            for c in rows
        ],
        total=len(visible),
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/cycles/{cycle_id}")
def progress(cycle_id: str, session: SessionDep, principal: PrincipalDep) -> CycleProgress:
    """Orgs, letters issued/signed per level, commitments, items, problems, overdue by level —
    over the whole tree, or the caller's part of it when its scope lies below the root."""
    cycle = get_cycle(session, cycle_id)
    scope = principal.scope_path
    if cycle.root_path.startswith(scope):
        under = cycle.root_path
    elif scope.startswith(cycle.root_path):
        under = scope
    else:
        raise Forbidden(f"cycle {cycle_id!r} is outside this account's scope")
    return cycle_progress(session, cycle, under)
