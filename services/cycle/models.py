"""The annual cycle's tables: cycles, letters, items, commitments (the read model the org
workflows write and the API reads).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.core.clock import utcnow


class Cycle(SQLModel, table=True):
    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("root_org_id", "year", name="uq_cycles_root_year"),)

    id: str = SQLField(primary_key=True, max_length=80)
    root_org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    root_path: str = SQLField(max_length=2000)
    year: int
    title: str = SQLField(max_length=300)
    plan: dict[str, Any] = SQLField(sa_column=Column(JSON, nullable=False))
    timezone: str = SQLField(max_length=60)
    state: str = SQLField(default="running", max_length=20)
    launched_by: str = SQLField(max_length=120)
    launched_at: datetime


class Letter(SQLModel, table=True):
    __tablename__ = "letters"
    __table_args__ = (
        Index("ix_letters_cycle_level_state", "cycle_id", "level", "state"),
        Index("ix_letters_cycle_path", "cycle_id", "org_path"),
    )

    id: str = SQLField(primary_key=True, max_length=150)
    cycle_id: str = SQLField(max_length=80)
    org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    org_name: str = SQLField(max_length=200)
    org_path: str = SQLField(max_length=2000)
    level: int
    parent_org_id: str | None = SQLField(default=None, max_length=64)
    head_person_id: str | None = SQLField(default=None, max_length=64)
    issuer_person_id: str | None = SQLField(default=None, max_length=64)
    version: int
    content_hash: str = SQLField(max_length=64)
    state: str = SQLField(max_length=20)
    signed_version: int | None = None
    signed_by: str | None = SQLField(default=None, max_length=120)
    signed_at: datetime | None = None
    return_reason: str | None = SQLField(default=None, sa_column=Column(Text))
    # A head who took over a signed letter acknowledges it (same content hash): who still must,
    # and who did when.
    handover_to: str | None = SQLField(default=None, max_length=64)
    acknowledged_by: str | None = SQLField(default=None, max_length=64)
    acknowledged_at: datetime | None = None
    issued_at: datetime
    closed_at: datetime | None = None
    summary: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    items_count: int = 0
    overdue_level: int = 0
    updated_at: datetime = SQLField(default_factory=utcnow)


class Item(SQLModel, table=True):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_cycle_state", "cycle_id", "state"),
        Index("ix_items_letter_seq", "letter_id", "seq"),
    )

    id: str = SQLField(primary_key=True, max_length=200)
    cycle_id: str = SQLField(max_length=80)
    org_id: str = SQLField(max_length=64, index=True)
    org_path: str = SQLField(max_length=2000, index=True)
    letter_id: str = SQLField(max_length=150)
    seq: int
    category: str = SQLField(max_length=20)
    responsibility: str = SQLField(max_length=20)
    title: str = SQLField(max_length=300)
    metric: str = SQLField(max_length=200)
    target: float
    unit: str = SQLField(max_length=40)
    standard: str = SQLField(default="", max_length=500)
    evidence_required: bool = False
    due: date
    assignee_person_id: str | None = SQLField(default=None, max_length=64, index=True)
    state: str = SQLField(max_length=20)
    actual: float | None = None
    note: str = SQLField(default="", sa_column=Column(Text, nullable=False))
    evidence: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    decided_at: datetime | None = None
    # The issuer's word on a reported achievement: confirmed, rejected, or None (not yet).
    confirmation: str | None = SQLField(default=None, max_length=20)
    confirmed_by: str | None = SQLField(default=None, max_length=64)
    confirmed_at: datetime | None = None
    confirmation_reason: str = SQLField(
        default="", sa_column=Column(Text, nullable=False, server_default="")
    )
    overdue_level: int = 0
    updated_at: datetime = SQLField(default_factory=utcnow)


class Commitment(SQLModel, table=True):
    __tablename__ = "commitments"
    __table_args__ = (
        Index("ix_commitments_cycle_state", "cycle_id", "state"),
        Index("ix_commitments_org_state", "org_id", "state"),
    )

    id: str = SQLField(primary_key=True, max_length=40)
    cycle_id: str = SQLField(max_length=80)
    org_id: str = SQLField(max_length=64)
    org_path: str = SQLField(max_length=2000, index=True)
    person_id: str = SQLField(max_length=64)
    text: str = SQLField(sa_column=Column(Text, nullable=False))
    item_ids: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = SQLField(max_length=20)
    version: int
    return_reason: str | None = SQLField(default=None, sa_column=Column(Text))
    submitted_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = SQLField(default=None, max_length=120)
    updated_at: datetime = SQLField(default_factory=utcnow)


class CarriedItem(SQLModel, table=True):
    """An item its org missed last year, listed on this year's letter for the issuer to keep
    (added to the letter as a new item) or drop; one decision each."""

    __tablename__ = "carried_items"

    cycle_id: str = SQLField(primary_key=True, max_length=80)
    item_id: str = SQLField(primary_key=True, max_length=200)  # last year's item
    org_id: str = SQLField(max_length=64, index=True)
    decision: str = SQLField(max_length=10)  # keep | drop
    new_item_id: str | None = SQLField(default=None, max_length=200)
    decided_by: str = SQLField(max_length=120)
    decided_at: datetime
