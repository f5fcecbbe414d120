"""Accounts: the table, roles, and the bodies that create one.

Tokens carry 256 bits from ``secrets``; only their SHA-256 is stored (see ``store``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.core.clock import utcnow
from services.core.text import Line
from services.org.contracts import ID_PATTERN

TOKEN_PREFIX = "dl_"


class Role(StrEnum):
    admin = "admin"
    committee = "committee"
    member = "member"
    auditor = "auditor"


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: str = SQLField(primary_key=True, max_length=64)
    person_id: str | None = SQLField(default=None, foreign_key="people.id", index=True)
    role: str = SQLField(max_length=20)
    # None only for installation-wide admins (who may create new roots).
    scope_org_id: str | None = SQLField(default=None, foreign_key="orgs.id", index=True)
    token_hash: str = SQLField(max_length=64, unique=True)
    label: str = SQLField(default="", max_length=200)
    disabled: bool = False
    created_at: datetime = SQLField(default_factory=utcnow)
    expires_at: datetime | None = None  # the token is refused from then on
    # When the token was last accepted (to a few minutes: not a write per request).
    last_used_at: datetime | None = None


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str | None = Field(default=None, pattern=ID_PATTERN)
    role: Role
    scope_org_id: str | None = Field(default=None, pattern=ID_PATTERN)
    label: Line = Field(default="", max_length=200)
    expires_at: AwareDatetime | None = None  # optional: the token dies then


class AccountCreated(BaseModel):
    account_id: str
    token: str
    role: Role
    scope_org_id: str | None
    person_id: str | None
    expires_at: datetime | None = None


class AccountOut(BaseModel):
    """An account as admins see it: never its token or the token's hash."""

    account_id: str
    role: str
    scope_org_id: str | None
    person_id: str | None
    label: str
    disabled: bool
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(
            account_id=a.id,
            role=a.role,
            scope_org_id=a.scope_org_id,
            person_id=a.person_id,
            label=a.label,
            disabled=a.disabled,
            created_at=a.created_at,
            expires_at=a.expires_at,
            last_used_at=a.last_used_at,
        )
