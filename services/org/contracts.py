"""The org tree's contracts: id pattern, org kinds, the bodies that create and import orgs and
people, and how they are shown. No tables (workflow code may import this).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core.text import Line

if TYPE_CHECKING:  # annotations only: contracts stay free of tables
    from services.org.models import Org

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


_ID_RE = re.compile(ID_PATTERN)


ORG_KINDS = ("committee", "general_branch", "branch", "department", "group", "office", "team")


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: Line = Field(min_length=1, max_length=200)
    title: Line = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    org_id: str | None = None
    language: Literal["zh", "en"] = "zh"  # of the messages and e-mails the person receives


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: Line = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    parent_id: str | None = None
    head_person_id: str | None = None
    deputy_person_id: str | None = None  # in charge of the org's direct responsibilities


class OrgTreeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[PersonIn] = Field(default_factory=list)
    orgs: list[OrgIn] = Field(default_factory=list)


class OrgOut(BaseModel):
    id: str
    name: str
    kind: str
    parent_id: str | None
    path: str
    depth: int
    head_person_id: str | None
    deputy_person_id: str | None = None

    @classmethod
    def of(cls, org: Org) -> OrgOut:
        return cls.model_validate(org, from_attributes=True)


class PersonOut(BaseModel):
    id: str
    name: str
    title: str
    email: str | None
    org_id: str | None


class ImportResult(BaseModel):
    orgs_created: int
    people_created: int
