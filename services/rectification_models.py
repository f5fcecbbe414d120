"""DTOs the rectification workflow exchanges with its activities and the API (no tables here:
workflow code imports this module)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from services.rectification_rules import Action, RectState


class ProblemSnapshot(BaseModel):
    """Everything the read model keeps about one rectification, as the workflow sees it."""

    problem_id: str
    org_id: str
    org_path: str
    cycle_id: str | None
    item_id: str | None
    source: str
    category: str
    severity: str
    title: str
    description: str
    state: RectState
    owner_person_id: str | None
    verifier_person_id: str | None
    due: date | None
    opened_at: datetime
    closed_at: datetime | None
    extension_pending: bool
    requested_due: date | None
    recheck_due: date | None
    recheck_open: bool
    progress_percent: int
    plan: dict[str, Any] | None
    version: int
    created_by: str
    # None: leave the stored level alone (deadline escalations raise it); 0 resets it (new due).
    overdue_level: int | None = None


class Transition(BaseModel):
    snapshot: ProblemSnapshot
    action: str  # "flag" or an Action value
    actor: str
    at: datetime
    payload: dict[str, Any]


class ActionRequest(BaseModel):
    """One human step, as the API sends it to the workflow's ``act`` update."""

    action: Action
    actor: str  # account id
    actor_person_id: str | None
    body: dict[str, Any]
