"""Public commitments: members pledge on their org's items, the issuer approves (published on
the public board) or returns them, the author resubmits. Each change is an Update on the org's
workflow, persisted before it answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.deps import PageDep, PrincipalDep, SessionDep, TemporalClient, TemporalDep, released
from api.pagination import Page
from services.accounts.principal import Principal
from services.core.text import Text
from services.cycle import client as cycle_client
from services.cycle.access import (
    actor_for,
    commitment_in_scope,
    letter_in_scope,
    new_commitment_id,
)
from services.cycle.contracts import CommitmentDecision, CommitmentRequest, CommitmentState
from services.cycle.queries import commitments_page, public_board_page
from services.cycle.rules import require_author, require_issuer, require_member
from services.cycle.views import CommitmentOut, PublicCommitment
from services.org.contracts import ID_PATTERN
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["commitments"])
public = APIRouter(prefix="/public/v1", tags=["public"])


class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=4000)
    item_ids: list[str] = Field(min_length=1, max_length=200)


class CommitmentReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000)


class ResubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text | None = Field(default=None, min_length=1, max_length=4000)
    item_ids: list[str] | None = Field(default=None, min_length=1, max_length=200)


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
    row = letter_in_scope(session, principal, cycle_id, org_id)
    actor = actor_for(session, principal, row)
    require_member(row, actor, "pledge on its items")
    cid = new_commitment_id(principal, idempotency_key)
    req = CommitmentRequest(actor=actor, commitment_id=cid, text=body.text, item_ids=body.item_ids)
    await released(session, cycle_client.submit_commitment(temporal, cycle_id, org_id, req))
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
    **body: Any,
) -> CommitmentOut:
    c = commitment_in_scope(session, principal, commitment_id)
    row = letter_in_scope(session, principal, c.cycle_id, c.org_id)
    actor = actor_for(session, principal, row)
    if decision == "resubmit":
        require_author(c.person_id, actor)
    else:
        require_issuer(row, actor, f"{decision} a commitment")
    req = CommitmentDecision(actor=actor, commitment_id=commitment_id, decision=decision, **body)
    await released(session, cycle_client.decide_commitment(temporal, c.cycle_id, c.org_id, req))
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
    return await _decide(session, principal, temporal, commitment_id, "return", reason=body.reason)


@router.post("/commitments/{commitment_id}/resubmit")
async def resubmit_commitment(
    commitment_id: str,
    body: ResubmitIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> CommitmentOut:
    return await _decide(
        session,
        principal,
        temporal,
        commitment_id,
        "resubmit",
        text=body.text,
        item_ids=body.item_ids,
    )


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
