"""Public commitments: members pledge on their org's items, the issuer approves (published on
the public board) or returns them, the author resubmits. Each change is an Update on the org's
workflow, persisted before it answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel
from sqlmodel import Session

from api.bodies import CommitmentIn, CommitmentReturnIn, ResubmitIn
from api.deps import PageDep, PrincipalDep, SessionDep, TemporalClient, TemporalDep
from api.pagination import Page
from api.steps import decide_commitment, pledge
from services.accounts.principal import Principal
from services.cycle.access import (
    commitment_in_scope,
)
from services.cycle.contracts import CommitmentState
from services.cycle.queries import commitments_page, public_board_page
from services.cycle.views import CommitmentOut, PublicCommitment
from services.org.contracts import ID_PATTERN
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["commitments"])
public = APIRouter(prefix="/public/v1", tags=["public"])


@router.post("/letters/{cycle_id}/{org_id}/commitments", status_code=201)
async def submit_commitment(
    cycle_id: str,
    org_id: str,
    body: CommitmentIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CommitmentOut:
    """A member of the org pledges on its items; the issuer approves (published) or returns it.
    Send ``Idempotency-Key`` to retry safely."""
    cid = await pledge(session, temporal, principal, cycle_id, org_id, body, idempotency_key)
    return CommitmentOut.of(commitment_in_scope(session, principal, cid))


@router.get("/commitments")
def list_commitments(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    cycle: Annotated[str | None, Query(min_length=1)] = None,
    org: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    state: CommitmentState | None = None,
) -> Page[CommitmentOut]:
    if org is not None:
        principal.require_scope(get_org(session, org))
    rows, total = commitments_page(
        session,
        principal.scope_path,
        page.offset,
        page.page_size,
        cycle_id=cycle,
        org_id=org,
        state=state,
    )
    return Page.of([CommitmentOut.of(c) for c in rows], total, page)


@router.get("/commitments/{commitment_id}")
def get_commitment(
    commitment_id: str, session: SessionDep, principal: PrincipalDep
) -> CommitmentOut:
    return CommitmentOut.of(commitment_in_scope(session, principal, commitment_id))


async def _decide(
    session: Session,
    principal: Principal,
    temporal: TemporalClient,
    commitment_id: str,
    decision: str,
    body: BaseModel | None = None,
) -> CommitmentOut:
    await decide_commitment(session, temporal, principal, commitment_id, decision, body)
    return CommitmentOut.of(commitment_in_scope(session, principal, commitment_id))


@router.post("/commitments/{commitment_id}/approve")
async def approve_commitment(
    commitment_id: str, session: SessionDep, principal: PrincipalDep, temporal: TemporalDep
) -> CommitmentOut:
    """Publish it on the public board."""
    return await _decide(session, principal, temporal, commitment_id, "approve")


@router.post("/commitments/{commitment_id}/return")
async def return_commitment(
    commitment_id: str,
    body: CommitmentReturnIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> CommitmentOut:
    return await _decide(session, principal, temporal, commitment_id, "return", body)


@router.post("/commitments/{commitment_id}/resubmit")
async def resubmit_commitment(
    commitment_id: str,
    body: ResubmitIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> CommitmentOut:
    return await _decide(session, principal, temporal, commitment_id, "resubmit", body)


@public.get("/commitments")
def public_commitments(
    session: SessionDep,
    page: PageDep,
    org: Annotated[str, Query(pattern=ID_PATTERN)],
    cycle: Annotated[str | None, Query(min_length=1)] = None,
    subtree: bool = False,
) -> Page[PublicCommitment]:
    """Approved commitments only: the pledge, who made it (name and title) and on which items."""
    o = get_org(session, org)
    rows, total = public_board_page(session, o, subtree, cycle, page.offset, page.page_size)
    return Page.of(rows, total, page)
