"""Changing the org tree and its people over the years: an org's name, kind, deputy, head or
parent; a person's details or the day they left; who headed an org when.

A change runs as a short workflow (``services.changes``): the route checks it first (a clear
4xx at once, nothing written), then waits for the workflow, which writes it with its audit
event and tells the running letters (``api/org_steps.py``, shared with the console). Send
``Idempotency-Key`` to retry safely.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query

from api.deps import PrincipalDep, SessionDep, StateDep, TemporalDep
from api.org_steps import change_org, change_person
from services.changes.contracts import HeadSpan, OrgChanged, OrgPatch, PersonPatch
from services.changes.orgs import heads_of
from services.org.contracts import PersonOut
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["orgs"])


@router.patch("/orgs/{org_id}")
async def patch_org(
    org_id: str,
    body: OrgPatch,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> OrgChanged:
    """Rename, re-kind, name a new head or deputy, or move under another parent. A new head
    signs the org's unsigned letter, or acknowledges a signed one, and gets its reminders; a
    move while a cycle runs over the org answers 409 naming the cycle."""
    return await change_org(
        session, temporal, state.settings, principal, org_id, body, idempotency_key
    )


@router.get("/orgs/{org_id}/heads")
def get_heads(
    org_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    on: Annotated[
        datetime | None, Query(description="only who headed the org at this instant")
    ] = None,
) -> list[HeadSpan]:
    """Who headed the org from when until when, oldest first (``until`` null: still does)."""
    principal.require_scope(get_org(session, org_id))
    if on is not None and on.tzinfo is None:
        on = on.replace(tzinfo=UTC)  # an instant without a zone is read as UTC
    return heads_of(session, org_id, on)


@router.patch("/people/{person_id}")
async def patch_person(
    person_id: str,
    body: PersonPatch,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> PersonOut:
    """Change a person's details or org, or record the day they left: their accounts are
    disabled and the rectifications they were working on go back to their orgs' heads, with a
    notice. A person who still heads an org answers 409 (name its new head first)."""
    person = await change_person(
        session, temporal, state.settings, principal, person_id, body, idempotency_key
    )
    return PersonOut.model_validate(person, from_attributes=True)
