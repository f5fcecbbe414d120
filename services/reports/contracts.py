"""Public reports' bodies: a report (no login) and its triage (flag as a problem, or dismiss)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.core.text import Line, Text
from services.org.contracts import ID_PATTERN
from services.rectification.contracts import Category, Severity


class PublicReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: str = Field(pattern=ID_PATTERN)
    text: Text = Field(min_length=1)


class TriageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(pattern="^(flag|dismiss)$")
    reason: Text | None = Field(default=None, max_length=4000)
    category: Category | None = None
    severity: Severity | None = None
    title: Line | None = Field(default=None, max_length=300)
    due: date | None = None

    @model_validator(mode="after")
    def _complete(self) -> TriageIn:
        if self.action == "dismiss" and not self.reason:
            raise ValueError("reason is required to dismiss a report")
        if self.action == "flag" and (self.category is None or self.severity is None):
            raise ValueError("category and severity are required to flag a problem")
        return self
