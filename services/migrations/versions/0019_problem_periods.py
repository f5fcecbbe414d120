"""problem periods: each problem's ledger fields over time

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-25 13:15:00.000000

One row per version of a problem's ledger fields (state, due date, owner, a pending extension,
overdue level), valid from the write that made it until the next one; the ledger as of a past
day reads them (services/rectification/history.py). Filled from the audit chain as the drift
check rebuilds a problem, with the rule written out here so a later change to the service's
code cannot change what this migration writes.
"""

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_events = sa.table(
    "audit_events",
    sa.column("seq", sa.Integer),
    sa.column("action", sa.String),
    sa.column("entity_type", sa.String),
    sa.column("entity_id", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("at", sqlmodel.sql.sqltypes.UTCDateTime()),
)


def upgrade() -> None:
    periods = op.create_table(
        "problem_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("valid_from", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("valid_to", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("owner_person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("extension_pending", sa.Boolean(), nullable=False),
        sa.Column("overdue_level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    batch: list[dict[str, Any]] = []
    for row in _periods_from_the_chain(conn):
        batch.append(row)
        if len(batch) >= 5000:
            conn.execute(sa.insert(periods), batch)
            batch.clear()
    if batch:
        conn.execute(sa.insert(periods), batch)
    op.create_index(
        "ix_problem_periods_valid",
        "problem_periods",
        ["valid_from", "valid_to", "problem_id", "state"],
        unique=False,
    )
    op.create_index(
        "ix_problem_periods_problem", "problem_periods", ["problem_id", "valid_from"], unique=False
    )


def _periods_from_the_chain(conn: sa.Connection) -> Iterator[dict[str, Any]]:
    """Every problem's periods, from its events in order: a transition (any event naming a state,
    but a carry into the next year) begins one with its snapshot, the level kept while the due
    date is the same and 0 on a new one; an escalation of the present due date that raises the
    level begins one with that level. Each ends where the next begins (never before it)."""
    rows = conn.execute(
        sa.select(_events.c.entity_id, _events.c.action, _events.c.payload, _events.c.at)
        .where(_events.c.entity_type == "problem")
        .order_by(_events.c.entity_id, _events.c.seq)
        .execution_options(yield_per=5000)
    )
    pending: dict[str, Any] | None = None
    for problem_id, action, payload, at in rows:
        if pending is not None and pending["problem_id"] != problem_id:
            yield pending
            pending = None
        following = _following(pending, action, payload)
        if following is None:
            continue
        begins: datetime = at if pending is None else max(at, pending["valid_from"])
        if pending is not None:
            yield {**pending, "valid_to": begins}
        pending = {**following, "problem_id": problem_id, "valid_from": begins, "valid_to": None}
    if pending is not None:
        yield pending


def _following(
    current: dict[str, Any] | None, action: str, p: dict[str, Any]
) -> dict[str, Any] | None:
    """The fields of the period an event begins, or None when it begins none."""
    due = date.fromisoformat(p["due"]) if p.get("due") else None
    if action == "escalate":
        level = int(p.get("overdue_level", 0))
        if current is None or due != current["due"] or level <= current["overdue_level"]:
            return None
        return {**_fields(current), "overdue_level": level}
    if action == "carry" or "state" not in p:
        return None
    same_due = current is not None and due == current["due"]
    return {
        "state": p["state"],
        "due": due,
        "owner_person_id": p.get("owner"),
        "extension_pending": bool(p.get("extension_pending", False)),
        "overdue_level": current["overdue_level"] if current is not None and same_due else 0,
    }


def _fields(period: dict[str, Any]) -> dict[str, Any]:
    keys = ("state", "due", "owner_person_id", "extension_pending", "overdue_level")
    return {k: period[k] for k in keys}


def downgrade() -> None:
    op.drop_index("ix_problem_periods_problem", table_name="problem_periods")
    op.drop_index("ix_problem_periods_valid", table_name="problem_periods")
    op.drop_table("problem_periods")
