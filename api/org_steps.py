"""Changing an org or a person, for the API and the console alike: the caller's scope checked
(what lies beyond it reads as unknown), the change checked (a clear 4xx, nothing written), then
run as its change workflow (``services.changes``) and read back."""

from __future__ import annotations

from sqlmodel import Session, col, select
from temporalio.client import Client

from api.deps import released
from services.accounts.models import Account, Role
from services.accounts.principal import Principal
from services.changes.client import run_change
from services.changes.contracts import ChangeInput, OrgChanged, OrgPatch, PersonPatch, Subject
from services.changes.orgs import check_org_patch
from services.changes.people import check_person_patch, get_person
from services.core.clock import utcnow
from services.core.errors import Conflict, Invalid, absent
from services.core.ids import keyed_id
from services.core.settings import Settings
from services.org.contracts import OrgOut
from services.org.models import Org, Person
from services.org.queries import get_org


async def change_org(
    session: Session,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    org_id: str,
    body: OrgPatch,
    idempotency_key: str | None,
) -> OrgChanged:
    principal.require_role(Role.admin)
    org = get_org(session, org_id)
    principal.require_scope(org)
    if body.parent_id is not None:
        _require_in_scope(session, principal, body.parent_id, "parent_id")
    for field in ("head_person_id", "deputy_person_id"):
        if (person_id := getattr(body, field)) is not None:
            _require_person_in_scope(session, principal, person_id, field)
    if not check_org_patch(session, org, body) and idempotency_key is None:
        # Nothing to change. With a key it may be a retry whose change is written but not yet
        # told to the letters (found by the crash test): that one waits for its workflow.
        return OrgChanged(org=OrgOut.of(org), changed={}, letters_told=0)
    inp = _change(principal, Subject.org, org_id, body, idempotency_key)
    result = await released(session, run_change(temporal, settings, inp))
    return OrgChanged(
        org=OrgOut.of(get_org(session, org_id)),
        changed=result.changed,
        letters_told=result.letters_told,
    )


async def change_person(
    session: Session,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    person_id: str,
    body: PersonPatch,
    idempotency_key: str | None,
) -> Person:
    principal.require_role(Role.admin)
    person = person_in_scope(session, principal, person_id)
    if body.org_id is not None:
        _require_in_scope(session, principal, body.org_id, "org_id")
    elif "org_id" in body.model_fields_set and principal.scope_path != "/":
        message = "a scoped admin keeps people in an org of its scope"
        raise Invalid(message, errors=[{"field": "org_id", "message": message}])
    if body.left_on is not None:
        _may_close_accounts(session, principal, person_id)
    if check_person_patch(session, person, body) or idempotency_key is not None:
        inp = _change(principal, Subject.person, person_id, body, idempotency_key)
        await released(session, run_change(temporal, settings, inp))
    return get_person(session, person_id)


def person_in_scope(session: Session, principal: Principal, person_id: str) -> Person:
    """The person, when an org in the caller's scope has them (an org-less person is the
    installation-wide admins'); else the 404 of an unknown one."""
    person = get_person(session, person_id)
    org = session.get(Org, person.org_id) if person.org_id else None
    if principal.scope_path != "/" and (org is None or not principal.in_scope(org.path)):
        raise absent(f"person {person_id!r}", "person_id")
    return person


def _require_in_scope(session: Session, principal: Principal, org_id: str, field: str) -> None:
    """A referenced org (new parent, new org of a person) outside the caller's scope reads as
    an unknown one."""
    org = session.get(Org, org_id)
    if org is not None and not principal.in_scope(org.path):
        message = f"unknown org {org_id!r}"
        raise Invalid(message, errors=[{"field": field, "message": message}])


def _require_person_in_scope(
    session: Session, principal: Principal, person_id: str, field: str
) -> None:
    """A person named as head or deputy from outside the caller's scope reads as unknown."""
    person = session.get(Person, person_id)
    if person is None or principal.scope_path == "/":
        return  # the change's own check names an unknown person
    org = session.get(Org, person.org_id) if person.org_id else None
    if org is None or not principal.in_scope(org.path):
        message = f"unknown person {person_id!r}"
        raise Invalid(message, errors=[{"field": field, "message": message}])


def _may_close_accounts(session: Session, principal: Principal, person_id: str) -> None:
    """A leaver's accounts are disabled: none may be the caller's own, nor reach beyond the
    caller's scope (an admin over it records the leaving)."""
    accounts = select(Account).where(
        Account.person_id == person_id, col(Account.disabled).is_(False)
    )
    for account in session.exec(accounts).all():
        if account.id == principal.account_id:
            message = "an admin may not record its own leaving (ask another admin)"
            raise Conflict(message, state="own")
        scope = session.get(Org, account.scope_org_id) if account.scope_org_id else None
        if not principal.in_scope(scope.path if scope else "/"):
            raise Conflict(
                f"{person_id!r} holds an account beyond this admin's scope: an admin over it "
                "records the leaving",
                state="beyond_scope",
            )


def _change(
    principal: Principal,
    subject: Subject,
    subject_id: str,
    body: OrgPatch | PersonPatch,
    idempotency_key: str | None,
) -> ChangeInput:
    return ChangeInput(
        key=keyed_id("C", principal.account_id, idempotency_key),
        subject=subject,
        subject_id=subject_id,
        fields=body.model_dump(mode="json", include=body.model_fields_set),
        actor=principal.account_id,
        at=utcnow(),
    )
