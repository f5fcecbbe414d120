"""Reading the org tree: one org, a subtree in tree order, the chain of heads up to the root."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from services.core.errors import absent
from services.org.models import Org, Person


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with ``prefix`` (escape char: backslash)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def under_path(column: Any, path: str) -> ColumnElement[bool]:
    """SQL condition: ``column`` (a materialized path) lies in the subtree rooted at ``path``."""
    return col(column).like(like_prefix(path), escape="\\")


def get_org(session: Session, org_id: str) -> Org:
    org = session.get(Org, org_id)
    if org is None:
        raise absent(f"org {org_id!r}", "org_id")
    return org


def list_subtree(session: Session, path: str, offset: int, limit: int) -> tuple[list[Org], int]:
    """Orgs whose path starts with ``path`` ("/" lists every tree), in tree order."""
    cond = under_path(Org.path, path)
    total = session.exec(select(func.count()).select_from(Org).where(cond)).one()
    rows = session.exec(
        select(Org).where(cond).order_by(col(Org.path)).offset(offset).limit(limit)
    ).all()
    return list(rows), int(total)


def chain_of_heads(session: Session, org_id: str) -> list[tuple[str, str | None]]:
    """(org id, head person id) from ``org_id`` up to the root: who to escalate to, in order."""
    org = get_org(session, org_id)
    ids = [p for p in org.path.strip("/").split("/") if p]
    orgs = {o.id: o for o in session.exec(select(Org).where(col(Org.id).in_(ids))).all()}
    return [(i, orgs[i].head_person_id) for i in reversed(ids) if i in orgs]


def names_of(session: Session, person_ids: Iterable[str | None]) -> dict[str, str]:
    """People's names by id, for showing who rather than an id."""
    ids = {p for p in person_ids if p}
    if not ids:
        return {}
    rows = session.exec(select(Person.id, Person.name).where(col(Person.id).in_(ids))).all()
    return {pid: name for pid, name in rows}


def kinds_under(session: Session, path: str) -> list[str]:
    """The org kinds present in the subtree at ``path`` (a plan's templates are per kind)."""
    rows = session.exec(select(Org.kind).where(under_path(Org.path, path)).distinct()).all()
    return sorted(rows)
