"""The org tree and its people: tables.

Each org keeps a materialized ``path`` (``/root/child/grandchild/``) so "everything under X" is
one indexed prefix query on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, String
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.core.clock import utcnow


class Org(SQLModel, table=True):
    __tablename__ = "orgs"

    id: str = SQLField(primary_key=True, max_length=64)
    name: str = SQLField(max_length=200)
    kind: str = SQLField(max_length=40)
    parent_id: str | None = SQLField(default=None, foreign_key="orgs.id", index=True)
    path: str = SQLField(sa_column=Column(String(2000), nullable=False, index=True))
    depth: int = 0
    head_person_id: str | None = SQLField(default=None, max_length=64)
    # The person in charge of daily work (分管负责人): answers for items of direct responsibility.
    deputy_person_id: str | None = SQLField(default=None, max_length=64)
    created_at: datetime = SQLField(default_factory=utcnow)


class Person(SQLModel, table=True):
    __tablename__ = "people"

    id: str = SQLField(primary_key=True, max_length=64)
    name: str = SQLField(max_length=200)
    title: str = SQLField(default="", max_length=200)
    email: str | None = SQLField(default=None, max_length=320)
    org_id: str | None = SQLField(default=None, foreign_key="orgs.id", index=True)
    language: str = SQLField(default="zh", max_length=5)  # of messages and e-mails: zh or en
    # The day the person left (their open work went back to their org's head); None while here.
    left_on: date | None = None
    created_at: datetime = SQLField(default_factory=utcnow)


class OrgHead(SQLModel, table=True):
    """Who headed an org from when until when (``until`` None: still does; ``person_id`` None:
    the post was vacant). One row per change, so "who was head on a date" is one query."""

    __tablename__ = "org_heads"

    id: int | None = SQLField(default=None, primary_key=True)
    org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    person_id: str | None = SQLField(default=None, max_length=64)
    since: datetime
    until: datetime | None = None
    changed_by: str = SQLField(max_length=120)
