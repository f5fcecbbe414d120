"""audit verifications: runs of the audit trail's verification in the background

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-25 18:00:00.000000

One row per verification asked for (``POST /api/v1/audit/verifications``): who asked and when,
and once a worker has run it, the verdict and the whole report.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_verifications",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("events_checked", sa.Integer(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("report", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_audit_verifications_requested_at",
        "audit_verifications",
        ["requested_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_verifications_requested_at", table_name="audit_verifications")
    op.drop_table("audit_verifications")
