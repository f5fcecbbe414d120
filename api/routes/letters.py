"""Responsibility letters: read from the read model; sign, return and amend as Updates on the
org's workflow (``cycle:{cycle}:org:{org}``), which checks the same rules again, persists the
change and only then answers — so the next read sees it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.deps import PageDep, PrincipalDep, SessionDep, TemporalDep, released
from api.pagination import Page
from api.steps import return_letter as return_letter_step
from api.steps import sign_letter
from services.core.errors import Invalid
from services.core.text import Text
from services.cycle import client as cycle_client
from services.cycle.access import actor_for, letter_in_scope
from services.cycle.contracts import (
    AmendRequest,
    ItemChange,
    LetterState,
)
from services.cycle.plan import ItemTemplate, item_text_errors
from services.cycle.queries import letters_page
from services.cycle.rules import require_issuer
from services.cycle.store import get_cycle
from services.cycle.views import LetterOut, letter_items
from services.org.contracts import ID_PATTERN
from services.org.models import Person
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["letters"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_hash: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000)


class ItemEdit(ItemTemplate):
    """An item as in the plan; with ``item_id`` it replaces that item, without it it is added."""

    item_id: str | None = Field(default=None, max_length=200)


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ItemEdit] = Field(min_length=1, max_length=200)
    reason: Text = Field(default="", max_length=4000)


@router.get("/letters")
def list_letters(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    cycle: Annotated[str, Query(min_length=1)],
    org: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    subtree: bool = False,
    status: LetterState | None = None,
    level: Annotated[int | None, Query(ge=0)] = None,
) -> Page[LetterOut]:
    """Letters of a cycle: one org's (``org``), its subtree's (``subtree``), or all in scope."""
    get_cycle(session, cycle)
    under, only = principal.scope_path, None
    if org is not None:
        o = get_org(session, org)
        principal.require_scope(o)
        under, only = (o.path, None) if subtree else (principal.scope_path, org)
    rows, total = letters_page(
        session,
        cycle,
        under,
        page.offset,
        page.page_size,
        org_id=only,
        status=status,
        level=level,
    )
    return Page.of([LetterOut.of(r) for r in rows], total, page)


@router.get("/letters/{cycle_id}/{org_id}")
def get_letter(
    cycle_id: str, org_id: str, session: SessionDep, principal: PrincipalDep
) -> LetterOut:
    """The letter with its items: what the head reads, and the ``content_hash`` to sign."""
    row = letter_in_scope(session, principal, cycle_id, org_id, acting=False)
    return LetterOut.of(row, letter_items(session, row.id))


@router.post("/letters/{cycle_id}/{org_id}/sign")
async def sign(
    cycle_id: str,
    org_id: str,
    body: SignIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> LetterOut:
    await sign_letter(session, temporal, principal, cycle_id, org_id, body.content_hash)
    return get_letter(cycle_id, org_id, session, principal)


@router.post("/letters/{cycle_id}/{org_id}/return")
async def return_letter(
    cycle_id: str,
    org_id: str,
    body: ReturnIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> LetterOut:
    """The head asks the issuer (the parent's head) for a revision."""
    await return_letter_step(session, temporal, principal, cycle_id, org_id, body.reason)
    return get_letter(cycle_id, org_id, session, principal)


@router.post("/letters/{cycle_id}/{org_id}/items")
async def amend_items(
    cycle_id: str,
    org_id: str,
    body: AmendIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> LetterOut:
    """The issuer adds or changes items: a new version, which the head signs again."""
    row = letter_in_scope(session, principal, cycle_id, org_id)
    actor = actor_for(session, principal, row)
    require_issuer(row, actor, "change its items")
    _check_items(session, body)
    changes = [
        ItemChange(
            id=it.item_id, template=ItemTemplate.model_validate(it.model_dump(exclude={"item_id"}))
        )
        for it in body.items
    ]
    req = AmendRequest(actor=actor, changes=changes, reason=body.reason)
    await released(session, cycle_client.amend(temporal, cycle_id, org_id, req))
    return get_letter(cycle_id, org_id, session, principal)


def _check_items(session: Session, body: AmendIn) -> None:
    errors = [e for n, it in enumerate(body.items) for e in item_text_errors(f"items.{n}", it)]
    errors += [
        {"field": f"items.{n}.assignee_person_id", "message": f"unknown person {person!r}"}
        for n, it in enumerate(body.items)
        if (person := it.assignee_person_id) is not None and session.get(Person, person) is None
    ]
    if errors:
        raise Invalid("invalid items", errors=errors)
