"""The public reports table: the text, the org, a hash of the reporter's address (never the
address), and what triage made of it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.core.clock import utcnow


class PublicReport(SQLModel, table=True):
    __tablename__ = "public_reports"

    id: str = SQLField(primary_key=True, max_length=40)
    org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    org_path: str = SQLField(max_length=2000, index=True)
    text: str = SQLField(sa_column=Column(Text, nullable=False))
    client_hash: str = SQLField(max_length=64)  # a hash, never the address itself
    status: str = SQLField(default="new", max_length=20, index=True)
    problem_id: str | None = SQLField(default=None, max_length=40)
    triage_reason: str | None = None
    triaged_by: str | None = SQLField(default=None, max_length=120)
    created_at: datetime = SQLField(default_factory=utcnow)
    triaged_at: datetime | None = None
