"""API identities: accounts with a role, an org-subtree scope and a bearer token stored as a hash.

Tokens carry 256 bits from ``secrets``; only their SHA-256 is stored (a fast hash is right for
random high-entropy secrets: there is nothing to brute-force), so a DB leak reveals no token."""

from __future__ import annotations

from dataclasses import dataclass

from services.accounts.models import Role
from services.core.errors import Forbidden
from services.org.models import Org


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved once per request from the bearer token."""

    account_id: str
    role: Role
    scope_org_id: str | None
    scope_path: str  # "/" for installation-wide admins
    person_id: str | None

    def in_scope(self, org_path: str) -> bool:
        return org_path.startswith(self.scope_path)

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"role {self.role.value!r} may not do this (allowed: {allowed})")

    def require_scope(self, org: Org) -> None:
        if not self.in_scope(org.path):
            raise Forbidden(
                f"org {org.id!r} is outside this account's scope (org {self.scope_org_id!r})"
            )

    def require_write(self) -> None:
        if self.role is Role.auditor:
            raise Forbidden("auditors are read-only")
