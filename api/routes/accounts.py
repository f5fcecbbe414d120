"""Accounts: an admin creates them; the token is shown once, in the response."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlmodel import Session

from api.deps import PageDep, PrincipalDep, SessionDep
from api.pagination import Page
from services.accounts.admin import disable_account, list_accounts, rotate_token
from services.accounts.models import AccountCreated, AccountIn, AccountOut, Role
from services.accounts.principal import Principal
from services.accounts.store import create_account
from services.core.clock import utcnow
from services.core.errors import Forbidden, Invalid
from services.org.models import Org, Person
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
def post_account(body: AccountIn, session: SessionDep, principal: PrincipalDep) -> AccountCreated:
    principal.require_role(Role.admin)
    if body.scope_org_id is None:
        if principal.scope_path != "/":
            raise Forbidden("only an installation-wide admin may create installation-wide accounts")
    else:
        principal.require_scope(get_org(session, body.scope_org_id))
    if body.person_id is not None:
        _require_person_in_scope(session, principal, body.person_id)
    return create_account(session, body)


def _require_person_in_scope(session: Session, principal: Principal, person_id: str) -> None:
    """An account acts as its person (signs their letters, owns their rectifications): an admin
    may bind only people of orgs inside its own scope."""
    person = session.get(Person, person_id)
    if person is None:
        return  # create_account answers 422 naming person_id
    org = session.get(Org, person.org_id) if person.org_id else None
    if not principal.in_scope(org.path if org else "/"):
        # create_account's very answer for an unknown person: nothing told about other subtrees
        raise Invalid(
            "unknown person",
            errors=[{"field": "person_id", "message": f"unknown person {person_id!r}"}],
        )


@router.get("/accounts")
def get_accounts(session: SessionDep, principal: PrincipalDep, page: PageDep) -> Page[AccountOut]:
    """The accounts in this admin's scope (never a token): role, scope, person, label, whether
    disabled, expiry and when the token was last used."""
    rows, total = list_accounts(session, principal, page.offset, page.page_size)
    return Page.of(rows, total, page)


@router.post("/accounts/{account_id}/disable")
def disable(account_id: str, session: SessionDep, principal: PrincipalDep) -> AccountOut:
    """Disable an account: its token answers 401 from now on, everywhere (console included)."""
    return disable_account(session, principal, account_id, utcnow())


@router.post("/accounts/{account_id}/rotate")
def rotate(account_id: str, session: SessionDep, principal: PrincipalDep) -> AccountCreated:
    """A new token for the account, shown this once; the old one is dead at once."""
    return rotate_token(session, principal, account_id, utcnow())


@router.get("/me")
def me(principal: PrincipalDep) -> dict[str, str | None]:
    return {
        "account_id": principal.account_id,
        "role": principal.role.value,
        "scope_org_id": principal.scope_org_id,
        "person_id": principal.person_id,
    }
