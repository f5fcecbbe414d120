"""The ledger's query language: filters, sort keys and the row every view returns."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SortKey(StrEnum):
    due = "due"
    opened = "opened"
    org = "org"
    severity = "severity"
    overdue_level = "overdue_level"


class LedgerFilter(BaseModel):
    """Every ledger filter; unknown names or values are refused (422) by the API, naming them."""

    model_config = ConfigDict(extra="forbid")

    org: str | None = None
    subtree: bool = True
    cycle: str | None = None
    state: list[str] = Field(default_factory=list)
    overdue: str | None = None  # "any", or a minimum overdue level "1", "2", …
    severity: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    category: list[str] = Field(default_factory=list)
    due_before: date | None = None
    q: str | None = Field(default=None, max_length=200)
    sort: str = "due"
    as_of: date | None = None

    @field_validator("overdue")
    @classmethod
    def _overdue(cls, v: str | None) -> str | None:
        if v is None or v == "any" or (v.isdigit() and int(v) >= 1):
            return v
        raise ValueError("must be 'any' or a minimum overdue level (1, 2, …)")

    @field_validator("sort")
    @classmethod
    def _sort(cls, v: str) -> str:
        key = v.removeprefix("-")
        if key not in SortKey.__members__:
            allowed = ", ".join(SortKey.__members__)
            raise ValueError(f"unknown sort key {key!r}; one of {allowed}, optionally prefixed -")
        return v

    @property
    def min_overdue_level(self) -> int | None:
        if self.overdue is None:
            return None
        return 1 if self.overdue == "any" else int(self.overdue)


class LedgerRow(BaseModel):
    problem_id: str
    org_id: str
    org_name: str
    org_path: str
    cycle_id: str | None
    title: str
    source: str
    category: str
    severity: str
    owner_person_id: str | None
    state: str
    overdue_level: int
    extension_pending: bool
    due: date | None
    opened: datetime
    closed: datetime | None
    days_open: int
    on_time: bool | None
