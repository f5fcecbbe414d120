"""The ``Principal``: who a request acts as (account, role, person, subtree scope) and the
checks every route makes with it (role, scope, write access).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.accounts.models import Role
from services.core.errors import Forbidden, absent
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

    def require_scope(self, org: Org, field: str = "org_id") -> None:
        self.require_path(org.path, f"org {org.id!r}", field)

    def require_path(self, path: str, what: str, field: str | None = None) -> None:
        """``what`` (e.g. "problem 'P-1'"), lying at ``path``, is in this account's scope, or
        reads as absent: the very 404 an unknown id gets (``errors.absent``)."""
        if not self.in_scope(path):
            raise absent(what, field)

    def require_write(self) -> None:
        if self.role is Role.auditor:
            raise Forbidden("auditors are read-only")
