"""The annual cycle: launch it, follow its progress level by level."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from api.deps import PageDep, PrincipalDep, SessionDep, StateDep, TemporalDep
from api.pagination import Page
from api.steps import launch_cycle
from services.cycle.access import progress_in_scope, visible_cycles
from services.cycle.models import Cycle
from services.cycle.progress import CycleProgress
from services.cycle.store import CycleIn

router = APIRouter(prefix="/api/v1", tags=["cycles"])


class Launched(BaseModel):
    cycle_id: str
    root_letter_id: str
    root_letter_hash: str


@router.post("/cycles", status_code=status.HTTP_202_ACCEPTED)
async def launch(
    body: CycleIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
) -> Launched:
    """Launch the year's cycle for a root org: the root's letter is issued to its head."""
    letter = await launch_cycle(session, temporal, state.settings, principal, body)
    return Launched(
        cycle_id=letter.cycle_id,
        root_letter_id=letter.letter_id,
        root_letter_hash=letter.content_hash,
    )


class CycleOut(BaseModel):
    cycle_id: str
    root_org_id: str
    year: int
    title: str
    state: str
    launched_at: datetime

    @classmethod
    def of(cls, c: Cycle) -> CycleOut:
        return cls(
            cycle_id=c.id,
            root_org_id=c.root_org_id,
            year=c.year,
            title=c.title,
            state=c.state,
            launched_at=c.launched_at,
        )


@router.get("/cycles")
def list_cycles(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    year: Annotated[int | None, Query()] = None,
) -> Page[CycleOut]:
    """Cycles whose tree the caller can see (its scope is within or above the root)."""
    visible = visible_cycles(session, principal, year)
    rows = visible[page.offset : page.offset + page.page_size]
    return Page.of([CycleOut.of(c) for c in rows], len(visible), page)


@router.get("/cycles/{cycle_id}")
def progress(cycle_id: str, session: SessionDep, principal: PrincipalDep) -> CycleProgress:
    """Orgs, letters issued/signed per level, commitments, items, problems, overdue by level —
    over the whole tree, or the caller's part of it when its scope lies below the root."""
    return progress_in_scope(session, principal, cycle_id)
