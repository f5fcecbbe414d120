"""The problems table: one row per rectification, written only by its workflow's activity."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.core.clock import utcnow
from services.rectification.rules import OPEN_STATES as _OPEN

OPEN_STATES = frozenset(s.value for s in _OPEN)


class Problem(SQLModel, table=True):
    __tablename__ = "problems"
    __table_args__ = (
        # Cover the ledger statistics' scans (services/ledger/stats.py), so they read the
        # indexes alone: counts by state, org, level and lateness (led by the state, so the
        # open states are ranges of it); the closed ones' figures.
        Index("ix_problems_state_tally", "state", "org_path", "overdue_level", "due"),
        Index("ix_problems_closed", "state", "org_path", "close_days", "closed_on_time"),
        Index("ix_problems_state_due", "state", "due"),
        Index("ix_problems_overdue", "overdue_level", "state"),
        # One per sort of the ledger, ending in the id that breaks its ties: a page by position
        # counts past the earlier rows in the index alone and reads only its own rows
        # (services/ledger/queries.ledger_page); a keyset page seeks in the same index.
        Index("ix_problems_due_id", "due", "id"),
        Index("ix_problems_opened_id", "opened_at", "id"),
        Index("ix_problems_org_path_id", "org_path", "id"),
        Index("ix_problems_severity_id", "severity_rank", "id"),
        Index("ix_problems_overdue_id", "overdue_level", "id"),
    )

    id: str = SQLField(primary_key=True, max_length=40)
    org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    org_path: str = SQLField(max_length=2000)
    cycle_id: str | None = SQLField(default=None, max_length=80, index=True)
    item_id: str | None = SQLField(default=None, max_length=200, index=True)
    source: str = SQLField(max_length=20, index=True)
    category: str = SQLField(max_length=20, index=True)
    severity: str = SQLField(max_length=10, index=True)
    severity_rank: int = 1
    title: str = SQLField(max_length=300)
    description: str = SQLField(default="", sa_column=Column(Text, nullable=False))
    state: str = SQLField(max_length=30, index=True)
    owner_person_id: str | None = SQLField(default=None, max_length=64, index=True)
    verifier_person_id: str | None = SQLField(default=None, max_length=64)
    due: date | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    # Set with closed_at, for the statistics: days from opening to closing, and whether it closed
    # by the end of its due day in the installation's timezone (None: open, dismissed, no due).
    close_days: float | None = None
    closed_on_time: bool | None = None
    overdue_level: int = 0
    extension_pending: bool = False
    requested_due: date | None = None
    recheck_due: date | None = None
    recheck_open: bool = False
    progress_percent: int = 0
    plan: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    version: int = 0
    created_by: str = SQLField(default="", max_length=120)
    updated_at: datetime = SQLField(default_factory=utcnow)


class Carryover(SQLModel, table=True):
    """An open rectification carried into a later year's cycle of the same root when that year
    is launched. It keeps its own workflow, deadlines and history; the later cycle's progress and
    ledger show it, with its origin (``Problem.cycle_id``)."""

    __tablename__ = "carryovers"

    cycle_id: str = SQLField(primary_key=True, max_length=80)
    problem_id: str = SQLField(primary_key=True, foreign_key="problems.id", max_length=40)
    carried_at: datetime
