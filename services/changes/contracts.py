"""Changes to the org tree and its people over the years: the PATCH bodies, what the change
workflow carries and what it answers. No tables (workflow code imports this).

A change is applied by one short workflow (``change:{key}``) so that what must follow it (the
running letters learning their new head or issuer, a leaver's rectifications going back to the
org's head) happens even if the API dies right after the write.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.core.text import Line
from services.org.contracts import ID_PATTERN, OrgOut

WORKFLOW = "ChangeWorkflow"  # id ``change:{key}``
APPLY_ACTIVITY = "apply_change"
TELL_LETTERS_ACTIVITY = "tell_letters_of_change"
HAND_BACK_ACTIVITY = "hand_back_rectifications"


def change_workflow_id(key: str) -> str:
    return f"change:{key}"


class OrgPatch(BaseModel):
    """``PATCH /api/v1/orgs/{id}``: only the fields sent change; ``head_person_id: null`` leaves
    the post vacant."""

    model_config = ConfigDict(extra="forbid")

    name: Line | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(
        default=None, min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$"
    )
    head_person_id: str | None = Field(default=None, pattern=ID_PATTERN)
    deputy_person_id: str | None = Field(default=None, pattern=ID_PATTERN)
    parent_id: str | None = Field(default=None, pattern=ID_PATTERN)

    def sent(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}


class PersonPatch(BaseModel):
    """``PATCH /api/v1/people/{id}``; ``left_on`` hands the person's open rectifications back to
    their org's head."""

    model_config = ConfigDict(extra="forbid")

    name: Line | None = Field(default=None, min_length=1, max_length=200)
    title: Line | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    org_id: str | None = Field(default=None, pattern=ID_PATTERN)
    left_on: date | None = None

    def sent(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}


class Subject(StrEnum):
    org = "org"
    person = "person"


class ChangeInput(BaseModel):
    key: str  # the change's idempotency key (its workflow id and audit key)
    subject: Subject
    subject_id: str
    fields: dict[str, Any]  # the patch's sent fields, JSON-ready
    actor: str  # account id
    at: datetime


class Applied(BaseModel):
    """What the write did, and what must follow it."""

    changed: dict[str, list[Any]] = Field(default_factory=dict)  # field -> [before, after]
    letters: list[str] = Field(default_factory=list)  # org workflow ids to re-read their parties
    rectifications: list[str] = Field(default_factory=list)  # problem ids to hand back
    hand_back_to: str | None = None  # the head they go back to


class TellLetters(BaseModel):
    key: str
    workflow_ids: list[str]


class HandBackInput(BaseModel):
    key: str  # the change's key: one notice per rectification, however often retried
    person_id: str  # who left
    left_on: date
    problem_ids: list[str]


class ChangeResult(BaseModel):
    changed: dict[str, list[Any]]
    letters_told: int = 0
    rectifications_handed_back: int = 0


class HeadSpan(BaseModel):
    """One line of an org's history of heads."""

    person_id: str | None
    person_name: str | None = None
    since: datetime
    until: datetime | None
    changed_by: str


class OrgChanged(BaseModel):
    org: OrgOut
    changed: dict[str, list[Any]]
    letters_told: int
