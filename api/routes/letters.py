"""Responsibility letters: read from the read model; sign, return and amend as Updates on the
org's workflow (``cycle:{cycle}:org:{org}``), which checks the same rules again, persists the
change and only then answers — so the next read sees it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.bodies import AmendIn, CarriedDecisionIn, ReturnIn, SignIn
from api.carry_steps import decide_carried
from api.deps import PageDep, PrincipalDep, SessionDep, TemporalDep
from api.pagination import Page
from api.steps import acknowledge_letter, amend_letter, sign_letter
from api.steps import return_letter as return_letter_step
from services.cycle.access import letter_in_scope, visible_cycle
from services.cycle.carried_items import CarriedItemOut, carried_items
from services.cycle.contracts import (
    LetterState,
)
from services.cycle.queries import letters_page
from services.cycle.store import get_cycle
from services.cycle.views import LetterOut, letter_items
from services.org.contracts import ID_PATTERN
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["letters"])


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
    visible_cycle(session, principal, cycle)
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


@router.get("/letters/{cycle_id}/{org_id}/carried")
def get_carried(
    cycle_id: str, org_id: str, session: SessionDep, principal: PrincipalDep
) -> list[CarriedItemOut]:
    """ "Carried from last year": the items the org missed in the root's previous cycle, each
    with the issuer's decision (keep: added to this letter; drop) once made."""
    row = letter_in_scope(session, principal, cycle_id, org_id, acting=False)
    return carried_items(session, get_cycle(session, row.cycle_id), org_id)


@router.post("/letters/{cycle_id}/{org_id}/carried/{item_id}")
async def decide_carried_item(
    cycle_id: str,
    org_id: str,
    item_id: str,
    body: CarriedDecisionIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> CarriedItemOut:
    """The issuer keeps last year's missed item (added as a new item, due in this year: a new
    version for the head to sign) or drops it; one decision each (a second answers 409)."""
    return await decide_carried(
        session, temporal, principal, cycle_id, org_id, item_id, body.decision
    )


@router.post("/letters/{cycle_id}/{org_id}/acknowledge")
async def acknowledge(
    cycle_id: str,
    org_id: str,
    body: SignIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> LetterOut:
    """A head who took over after the signature acknowledges the signed letter: the same
    ``content_hash``, recorded as a handover (the former head's signature stays)."""
    await acknowledge_letter(session, temporal, principal, cycle_id, org_id, body.content_hash)
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
    await amend_letter(session, temporal, principal, cycle_id, org_id, body)
    return get_letter(cycle_id, org_id, session, principal)
