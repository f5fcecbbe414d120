"""problems closing figures and statistics indexes

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 09:19:58.208560
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_problems = sa.table(
    "problems",
    sa.column("id", sa.String),
    sa.column("state", sa.String),
    sa.column("due", sa.Date),
    sa.column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("close_days", sa.Float),
    sa.column("closed_on_time", sa.Boolean),
)


def upgrade() -> None:
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_days", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("closed_on_time", sa.Boolean(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_problems_org_path_state"))
        batch_op.create_index(
            "ix_problems_closed",
            ["state", "org_path", "close_days", "closed_on_time"],
            unique=False,
        )
        batch_op.create_index(
            "ix_problems_tally", ["org_path", "state", "overdue_level", "due"], unique=False
        )
    _backfill()


def _backfill() -> None:
    """The closed rows' figures, as the service wrote them when this migration was made: days
    from opening to closing, and whether it closed by 23:59:59 of its due day in the configured
    timezone. The rule is written out here so a later change to the service's code cannot
    change what this migration writes."""
    from services.core.settings import Settings  # the configured timezone, as the service reads it

    timezone = ZoneInfo(Settings().timezone)
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            _problems.c.id, _problems.c.due, _problems.c.opened_at, _problems.c.closed_at
        ).where(_problems.c.state == "closed", _problems.c.closed_at.is_not(None))
    ).all()
    figures = []
    for pid, due, opened, closed in rows:
        closed_utc, opened_utc = _utc(closed), _utc(opened)
        days = (closed_utc - opened_utc).total_seconds() / 86400
        on_time = None
        if due is not None:
            end = datetime.combine(due, time(23, 59, 59), tzinfo=timezone).astimezone(UTC)
            on_time = closed_utc <= end
        figures.append({"pid": pid, "days": days, "on_time": on_time})
    write = (
        sa.update(_problems)
        .where(_problems.c.id == sa.bindparam("pid"))
        .values(close_days=sa.bindparam("days"), closed_on_time=sa.bindparam("on_time"))
    )
    for i in range(0, len(figures), 5000):
        conn.execute(write, figures[i : i + 5000])


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def downgrade() -> None:
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.drop_index("ix_problems_tally")
        batch_op.drop_index("ix_problems_closed")
        batch_op.create_index(
            batch_op.f("ix_problems_org_path_state"), ["org_path", "state"], unique=False
        )
        batch_op.drop_column("closed_on_time")
        batch_op.drop_column("close_days")
