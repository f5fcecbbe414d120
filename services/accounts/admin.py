"""Administering accounts: list them, disable one, rotate its token. An admin acts on accounts
within its scope (an installation-wide admin on all); each step is an audit event, and a
disabled or rotated-away token answers 401 at once, in the API and the console alike."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from services.accounts.models import Account, AccountCreated, AccountOut, Role
from services.accounts.principal import Principal
from services.accounts.store import hash_token, new_token
from services.audit.chain import append_event
from services.core.errors import Conflict, NotFound
from services.org.models import Org
from services.org.queries import under_path


def scope_path_of(session: Session, account: Account) -> str:
    """The subtree an account acts in ("/" installation-wide, and for a scope org that no
    longer exists: only installation-wide admins reach such an account)."""
    if account.scope_org_id is None:
        return "/"
    org = session.get(Org, account.scope_org_id)
    return org.path if org is not None else "/"


def administered(session: Session, principal: Principal, account_id: str) -> Account:
    """An account this admin may manage; another subtree's reads as absent."""
    principal.require_role(Role.admin)
    account = session.get(Account, account_id)
    if account is None or not principal.in_scope(scope_path_of(session, account)):
        raise NotFound(f"no account {account_id!r} in this admin's scope", field="account_id")
    return account


def list_accounts(
    session: Session, principal: Principal, offset: int, limit: int
) -> tuple[list[AccountOut], int]:
    principal.require_role(Role.admin)
    q = select(Account)
    if principal.scope_path != "/":
        q = q.join(Org, col(Org.id) == col(Account.scope_org_id)).where(
            under_path(col(Org.path), principal.scope_path)
        )
    total = session.exec(select(func.count()).select_from(q.subquery())).one()
    rows = session.exec(
        q.order_by(col(Account.created_at), col(Account.id)).offset(offset).limit(limit)
    )
    return [AccountOut.of(a) for a in rows], int(total)


def disable_account(
    session: Session, principal: Principal, account_id: str, at: datetime
) -> AccountOut:
    account = administered(session, principal, account_id)
    if account.id == principal.account_id:
        raise Conflict(
            "an admin may not disable its own account (ask another admin)", state="active"
        )
    if not account.disabled:
        account.disabled = True
        session.add(account)
        _event(session, principal, account, "account_disabled", at)
    return AccountOut.of(account)


def rotate_token(
    session: Session, principal: Principal, account_id: str, at: datetime
) -> AccountCreated:
    """A new token, shown this once; the old one is dead from this commit on."""
    account = administered(session, principal, account_id)
    if account.disabled:
        raise Conflict("a disabled account gets no new token", state="disabled")
    token = new_token()
    account.token_hash = hash_token(token)
    session.add(account)
    _event(session, principal, account, "account_token_rotated", at)
    return AccountCreated(
        account_id=account.id,
        token=token,
        role=Role(account.role),
        scope_org_id=account.scope_org_id,
        person_id=account.person_id,
        expires_at=account.expires_at,
    )


def _event(
    session: Session, principal: Principal, account: Account, action: str, at: datetime
) -> None:
    append_event(
        session,
        idempotency_key=f"account:{account.id}:{action}:{at.isoformat()}",
        actor=principal.account_id,
        action=action,
        entity_type="account",
        entity_id=account.id,
        payload={"role": account.role, "scope_org_id": account.scope_org_id},
        at=at,
        org_path=scope_path_of(session, account),
    )
