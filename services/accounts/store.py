"""Accounts: creating them, authenticating a bearer token, the bootstrap admin.

Tokens carry 256 bits from ``secrets``; only their SHA-256 is stored (a fast hash is right for
random high-entropy secrets: there is nothing to brute-force), so a DB leak reveals no token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sqlmodel import Session, col, select

from services.accounts.models import TOKEN_PREFIX, Account, AccountCreated, AccountIn, Role
from services.accounts.principal import Principal
from services.core.clock import as_utc, utcnow
from services.core.errors import Conflict, Invalid, Unauthorized
from services.org.models import Org, Person


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_account(session: Session, spec: AccountIn, token: str | None = None) -> AccountCreated:
    if spec.scope_org_id is None and spec.role is not Role.admin:
        raise Invalid(
            "only admins may be installation-wide",
            errors=[{"field": "scope_org_id", "message": f"required for role {spec.role.value!r}"}],
        )
    if spec.scope_org_id is not None and session.get(Org, spec.scope_org_id) is None:
        raise Invalid(
            "unknown scope org",
            errors=[{"field": "scope_org_id", "message": f"unknown org {spec.scope_org_id!r}"}],
        )
    if spec.person_id is not None and session.get(Person, spec.person_id) is None:
        raise Invalid(
            "unknown person",
            errors=[{"field": "person_id", "message": f"unknown person {spec.person_id!r}"}],
        )
    if spec.expires_at is not None and spec.expires_at <= utcnow():
        raise Invalid(
            "the expiry is already past",
            errors=[{"field": "expires_at", "message": "a moment in the future, please"}],
        )
    token = token or new_token()
    digest = hash_token(token)
    if session.exec(select(Account).where(Account.token_hash == digest)).first() is not None:
        raise Conflict("an account with this token already exists")
    account = Account(
        id="acc-" + secrets.token_hex(8),
        person_id=spec.person_id,
        role=spec.role.value,
        scope_org_id=spec.scope_org_id,
        token_hash=digest,
        label=spec.label,
        expires_at=spec.expires_at,
    )
    session.add(account)
    session.flush()
    return AccountCreated(
        account_id=account.id,
        token=token,
        role=spec.role,
        scope_org_id=spec.scope_org_id,
        person_id=spec.person_id,
        expires_at=spec.expires_at,
    )


def authenticate(session: Session, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("missing bearer token")
    account = session.exec(select(Account).where(Account.token_hash == hash_token(token))).first()
    return _principal(session, account)


def principal_of(session: Session, account_id: str, token_tag: str) -> Principal:
    """The principal of a signed-in console session: its account may have been disabled, have
    expired or had its token rotated since (``token_tag``: the signing-in token's)."""
    account = session.get(Account, account_id)
    if account is not None and account.token_hash[:TAG_LENGTH] != token_tag:
        raise Unauthorized("the token this session signed in with was replaced")
    return _principal(session, account)


TAG_LENGTH = 16  # a console session carries this many hex digits of its token's hash


def token_tag(token: str) -> str:
    return hash_token(token)[:TAG_LENGTH]


def _principal(session: Session, account: Account | None) -> Principal:
    if account is None or account.disabled:
        raise Unauthorized("invalid or disabled token")
    if account.expires_at is not None and as_utc(account.expires_at) <= utcnow():
        raise Unauthorized("the token has expired")
    scope_path = "/"
    if account.scope_org_id is not None:
        scope = session.get(Org, account.scope_org_id)
        if scope is None:
            raise Unauthorized("the account's scope org no longer exists")
        scope_path = scope.path
    return Principal(
        account_id=account.id,
        role=Role(account.role),
        scope_org_id=account.scope_org_id,
        scope_path=scope_path,
        person_id=account.person_id,
    )


def ensure_bootstrap_admin(session: Session, token: str) -> bool:
    """Create an installation-wide admin holding ``token`` unless it exists; True when created."""
    digest = hash_token(token)
    if session.exec(select(Account).where(Account.token_hash == digest)).first() is not None:
        return False
    create_account(session, AccountIn(role=Role.admin, label="bootstrap admin"), token)
    return True


def actor_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Who an audit event's actor is, by name: an account's person, else its role and label;
    ``system:…`` actors are left as they are."""
    ids = {a for a in actors if a.startswith("acc-")}
    if not ids:
        return {}
    out: dict[str, str] = {}
    rows = session.exec(
        select(Account.id, Account.role, Account.label, Person.name)
        .join(Person, col(Person.id) == Account.person_id, isouter=True)
        .where(col(Account.id).in_(ids))
    ).all()
    for account_id, role, label, name in rows:
        out[account_id] = name or label or role
    return out
