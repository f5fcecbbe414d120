"""Accountability records: what an escalation step created (a reminder talk, a written inquiry,
public criticism), a poor evaluation grade, or a committee recorded by hand
(``services.accountability``), naming org, person, reason and the linked letter, item, problem or
evaluation; the person concerned may appeal once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Text, UniqueConstraint, func
from sqlmodel import Field, Session, SQLModel, col, select

from services.core.clock import utcnow
from services.core.db import insert_once
from services.org.queries import under_path


class Accountability(SQLModel, table=True):
    __tablename__ = "accountability"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_accountability_dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300)
    kind: str = Field(max_length=40)
    org_id: str = Field(max_length=64, index=True)
    org_path: str = Field(max_length=2000, index=True)
    person_id: str | None = Field(default=None, max_length=64)
    reason: str
    entity_type: str = Field(max_length=40)
    entity_id: str = Field(max_length=200, index=True)
    overdue_days: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    # Recorded by hand: the committee account and what was decided (empty for the system's).
    recorded_by: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The one appeal: {reason, at, state: pending|upheld|overturned, decided_by?, decided_at?,
    # decision_reason?}.
    # Overturned on appeal: out of the person's record and of evaluations' deductions.
    overturned: bool = False
    appeal: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )


class AccountabilityIn(BaseModel):
    dedupe_key: str
    kind: str
    org_id: str
    org_path: str
    person_id: str | None
    reason: str
    entity_type: str
    entity_id: str
    overdue_days: int = 0


class AccountabilityOut(BaseModel):
    id: int
    kind: str
    org_id: str
    person_id: str | None
    reason: str
    entity_type: str
    entity_id: str
    overdue_days: int
    created_at: datetime
    recorded_by: str | None = None
    outcome: str = ""
    appeal: dict[str, Any] | None = None
    overturned: bool = False


def record_accountability(session: Session, spec: AccountabilityIn) -> tuple[Accountability, bool]:
    """The record of ``spec`` and whether this call created it (not: an earlier or a concurrent
    attempt had)."""
    return insert_once(session, Accountability(**spec.model_dump()), "dedupe_key")


def list_accountability(
    session: Session, org_path: str, offset: int, limit: int
) -> tuple[list[AccountabilityOut], int]:
    cond = under_path(Accountability.org_path, org_path)
    total = session.exec(select(func.count()).select_from(Accountability).where(cond)).one()
    rows = session.exec(
        select(Accountability)
        .where(cond)
        .order_by(col(Accountability.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [AccountabilityOut.model_validate(r, from_attributes=True) for r in rows], int(total)
