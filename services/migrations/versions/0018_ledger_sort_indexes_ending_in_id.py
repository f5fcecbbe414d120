"""ledger sort indexes ending in id

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25 10:30:00.000000

Each of the ledger's sorts gets an index on (sort column, id), the order its pages are read in:
a page by position then counts past the rows before it in the index alone. The single-column
indexes on due, opened_at and org_path are the leading part of the new ones, so they go.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SORT_INDEXES = {
    "ix_problems_due_id": ["due", "id"],
    "ix_problems_opened_id": ["opened_at", "id"],
    "ix_problems_org_path_id": ["org_path", "id"],
    "ix_problems_severity_id": ["severity_rank", "id"],
    "ix_problems_overdue_id": ["overdue_level", "id"],
}
_REPLACED = {
    "ix_problems_due": ["due"],
    "ix_problems_opened_at": ["opened_at"],
    "ix_problems_org_path": ["org_path"],
}


def upgrade() -> None:
    for name, columns in _SORT_INDEXES.items():
        op.create_index(name, "problems", columns, unique=False)
    for name in _REPLACED:
        op.drop_index(name, table_name="problems")


def downgrade() -> None:
    for name, columns in _REPLACED.items():
        op.create_index(name, "problems", columns, unique=False)
    for name in _SORT_INDEXES:
        op.drop_index(name, table_name="problems")
