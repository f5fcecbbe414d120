"""Changing the org tree and its people over the years: an org's name, kind, deputy, head or
parent; a person's details or the day they left; who headed an org when.

A change runs as a short workflow (``services.changes``): the route checks it first (a clear
4xx at once, nothing written), then waits for the workflow, which writes it with its audit
event and tells the running letters. Send ``Idempotency-Key`` to retry safely.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sqlmodel import select

from api.deps import PrincipalDep, SessionDep, StateDep, TemporalDep, released
from services.accounts.models import Account, Role
from services.accounts.principal import Principal
from services.changes.client import run_change
from services.changes.contracts import (
    ChangeInput,
    ChangeResult,
    HeadSpan,
    OrgChanged,
    OrgPatch,
    PersonPatch,
    Subject,
)
from services.changes.orgs import check_org_patch, heads_of
from services.changes.people import check_person_patch, get_person
from services.core.clock import utcnow
from services.core.errors import Conflict, Invalid, absent
from services.core.ids import keyed_id
from services.org.contracts import OrgOut, PersonOut
from services.org.models import Org, Person
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["orgs"])


def _unknown(field: str, what: str) -> Invalid:
    return Invalid(f"unknown {what}", errors=[{"field": field, "message": f"unknown {what}"}])


def _require_in_scope(session: SessionDep, principal: Principal, org_id: str, field: str) -> None:
    """A referenced org (new parent, new org of a person) outside the caller's scope reads as
    an unknown one."""
    org = session.get(Org, org_id)
    if org is not None and not principal.in_scope(org.path):
        raise _unknown(field, f"org {org_id!r}")


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
    principal.require_role(Role.admin)
    org = get_org(session, org_id)
    principal.require_scope(org)
    if body.parent_id is not None:
        _require_in_scope(session, principal, body.parent_id, "parent_id")
    for field in ("head_person_id", "deputy_person_id"):
        if (person_id := getattr(body, field)) is not None:
            _require_person_in_scope(session, principal, person_id, field)
    if not check_org_patch(session, org, body):
        return OrgChanged(org=OrgOut.of(org), changed={}, letters_told=0)
    result = await _run(
        session, state, temporal, principal, Subject.org, org_id, body, idempotency_key
    )
    return OrgChanged(
        org=OrgOut.of(get_org(session, org_id)),
        changed=result.changed,
        letters_told=result.letters_told,
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
    principal.require_role(Role.admin)
    person = _person_in_scope(session, principal, person_id)
    if body.org_id is not None:
        _require_in_scope(session, principal, body.org_id, "org_id")
    elif "org_id" in body.model_fields_set and principal.scope_path != "/":
        message = "a scoped admin keeps people in an org of its scope"
        raise Invalid(message, errors=[{"field": "org_id", "message": message}])
    if body.left_on is not None:
        _may_close_accounts(session, principal, person_id)
    if check_person_patch(session, person, body):
        await _run(
            session, state, temporal, principal, Subject.person, person_id, body, idempotency_key
        )
    return PersonOut.model_validate(get_person(session, person_id), from_attributes=True)


def _require_person_in_scope(
    session: SessionDep, principal: Principal, person_id: str, field: str
) -> None:
    """A person named as head or deputy from outside the caller's scope reads as unknown."""
    person = session.get(Person, person_id)
    if person is None or principal.scope_path == "/":
        return  # the change's own check names an unknown person
    org = session.get(Org, person.org_id) if person.org_id else None
    if org is None or not principal.in_scope(org.path):
        message = f"unknown person {person_id!r}"
        raise Invalid(message, errors=[{"field": field, "message": message}])


def _may_close_accounts(session: SessionDep, principal: Principal, person_id: str) -> None:
    """A leaver's accounts are disabled: none may be the caller's own, nor reach beyond the
    caller's scope (an admin over it records the leaving)."""
    for account in session.exec(select(Account).where(Account.person_id == person_id)).all():
        if account.id == principal.account_id:
            raise Conflict(
                "an admin may not record its own leaving (ask another admin)", state="own"
            )
        scope = session.get(Org, account.scope_org_id) if account.scope_org_id else None
        if not principal.in_scope(scope.path if scope else "/"):
            raise Conflict(
                f"{person_id!r} holds an account beyond this admin's scope: an admin over it "
                "records the leaving",
                state="beyond_scope",
            )


def _person_in_scope(session: SessionDep, principal: Principal, person_id: str) -> Person:
    person = get_person(session, person_id)
    org = session.get(Org, person.org_id) if person.org_id else None
    if principal.scope_path != "/" and (org is None or not principal.in_scope(org.path)):
        raise absent(f"person {person_id!r}", "person_id")
    return person


async def _run(
    session: SessionDep,
    state: StateDep,
    temporal: TemporalDep,
    principal: Principal,
    subject: Subject,
    subject_id: str,
    body: OrgPatch | PersonPatch,
    idempotency_key: str | None,
) -> ChangeResult:
    inp = ChangeInput(
        key=keyed_id("C", principal.account_id, idempotency_key),
        subject=subject,
        subject_id=subject_id,
        fields=body.model_dump(mode="json", include=body.model_fields_set),
        actor=principal.account_id,
        at=utcnow(),
    )
    return await released(session, run_change(temporal, state.settings, inp))
