"""Moving a subtree: every materialized path under the old place follows it to the new one.

The tables are found from the schema (each column named ``org_path``, ``root_path`` or
``under_path``), so a table added later follows moves without a change here. The audit chain is
the exception: its events are hashed with the path they were recorded at, and rewriting them
would break the chain; the trail keeps where things were when they happened.
"""

from __future__ import annotations

from sqlalchemy import Column, Table, func, literal, update
from sqlmodel import Session

from services.core.db import rows_changed
from services.org.models import Org
from services.org.queries import under_path
from services.schema import metadata

PATH_COLUMNS = ("org_path", "root_path", "under_path")
KEPT_AS_RECORDED = frozenset({"audit_events"})


def path_columns() -> list[tuple[Table, Column[str]]]:
    """Every (table, column) that stores a materialized path, but the orgs' own and the audit
    chain's."""
    out: list[tuple[Table, Column[str]]] = []
    for table in metadata.sorted_tables:
        if table.name in KEPT_AS_RECORDED:
            continue
        out.extend((table, c) for c in table.columns if c.name in PATH_COLUMNS)
    return out


def _rebased(column: Column[str], old: str, new: str) -> object:
    # ``new`` + what follows ``old``: the same SQL on SQLite and PostgreSQL (1-based substr).
    return literal(new) + func.substr(column, len(old) + 1)


def move_subtree(session: Session, old: str, new: str) -> int:
    """Rewrite the paths under ``old`` (an org's path) to lie under ``new``; returns how many
    orgs moved. The caller has checked that ``new`` is not inside ``old``."""
    shift = new.count("/") - old.count("/")
    table = Org.__table__  # type: ignore[attr-defined]
    moved = session.execute(
        update(table)
        .where(under_path(table.c.path, old))
        .values(path=_rebased(table.c.path, old, new), depth=table.c.depth + shift)
    )
    for t, c in path_columns():
        session.execute(update(t).where(under_path(c, old)).values({c.name: _rebased(c, old, new)}))
    session.expire_all()
    return rows_changed(moved)
