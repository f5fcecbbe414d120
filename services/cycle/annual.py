"""The yearly launch's contracts: what the annual Schedule's workflow carries and what its
launch activity answers (no tables: workflow code imports this)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.cycle.plan import Plan


class AnnualCycleInput(BaseModel):
    root_org_id: str
    title: str  # "{year}" is replaced by the year
    plan: Plan  # dates in any year: moved to the year the schedule fires in
    created_by: str


class LaunchInput(BaseModel):
    root_org_id: str
    year: int
    title: str
    plan: dict[str, Any]
    launched_by: str
    at: datetime


class LaunchResult(BaseModel):
    cycle_id: str
    launched: bool  # False: that year's cycle existed already (a retry, or launched by hand)
