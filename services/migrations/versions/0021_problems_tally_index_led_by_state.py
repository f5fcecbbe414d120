"""problems tally index led by the state

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-25 22:30:00.000000

The statistics' counts index, (org_path, state, overdue_level, due), becomes (state, org_path,
overdue_level, due): the open states are then ranges of it, so the open rows' lateness is
counted over them alone, and the closed and dismissed rows without those counts (whole-tree
statistics over 100,000 rows: the counts' scans 29 → 19 ms on SQLite).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_problems_state_tally",
        "problems",
        ["state", "org_path", "overdue_level", "due"],
        unique=False,
    )
    op.drop_index("ix_problems_tally", table_name="problems")


def downgrade() -> None:
    op.create_index(
        "ix_problems_tally", "problems", ["org_path", "state", "overdue_level", "due"], unique=False
    )
    op.drop_index("ix_problems_state_tally", table_name="problems")
