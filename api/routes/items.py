"""The responsibility list: items read from the read model; progress reported as an Update on
the org's workflow, which persists it before answering."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.bodies import ConfirmationIn
from api.deps import PageDep, PrincipalDep, SessionDep, TemporalDep
from api.pagination import Page
from api.steps import confirm_achievement as confirm_step
from api.steps import report_progress as report_progress_step
from services.core.text import Text
from services.cycle.access import item_in_scope, visible_cycle
from services.cycle.contracts import ItemState
from services.cycle.queries import items_page
from services.cycle.views import ItemOut
from services.org.contracts import ID_PATTERN
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["items"])


class ItemProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actual: float = Field(ge=0, allow_inf_nan=False)
    note: Text = Field(default="", max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=50)


@router.get("/items")
def list_items(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    cycle: Annotated[str, Query(min_length=1)],
    org: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    state: ItemState | None = None,
    assignee: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    due_before: date | None = None,
) -> Page[ItemOut]:
    """The responsibility list: one org's items, or every item in scope, filtered."""
    visible_cycle(session, principal, cycle)
    if org is not None:
        principal.require_scope(get_org(session, org))
    rows, total = items_page(
        session,
        cycle,
        principal.scope_path,
        page.offset,
        page.page_size,
        org_id=org,
        state=state,
        assignee=assignee,
        due_before=due_before,
    )
    return Page.of([ItemOut.of(r) for r in rows], total, page)


@router.get("/items/{item_id}")
def get_item(item_id: str, session: SessionDep, principal: PrincipalDep) -> ItemOut:
    return ItemOut.of(item_in_scope(session, principal, item_id))


@router.post("/items/{item_id}/progress")
async def report_progress(
    item_id: str,
    body: ItemProgressIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> ItemOut:
    """The assignee reports the actual figure so far (for a collective item: any member)."""
    await report_progress_step(
        session, temporal, principal, item_id, body.actual, body.note, body.evidence
    )
    return ItemOut.of(item_in_scope(session, principal, item_id))


@router.post("/items/{item_id}/confirmation")
async def confirm_achievement(
    item_id: str,
    body: ConfirmationIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> ItemOut:
    """The issuer confirms or rejects an achievement reported on the item: only confirmed
    achievements count in an evaluation's ledger part."""
    await confirm_step(session, temporal, principal, item_id, body.decision, body.reason)
    return ItemOut.of(item_in_scope(session, principal, item_id))
