"""Accounts: an admin creates them; the token is shown once, in the response."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import PrincipalDep, SessionDep
from services.accounts.models import AccountCreated, AccountIn, Role
from services.accounts.store import create_account
from services.core.errors import Forbidden
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
    return create_account(session, body)


@router.get("/me")
def me(principal: PrincipalDep) -> dict[str, str | None]:
    return {
        "account_id": principal.account_id,
        "role": principal.role.value,
        "scope_org_id": principal.scope_org_id,
        "person_id": principal.person_id,
    }
