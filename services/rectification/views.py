"""How the API shows a problem: its fields, days open and the actions allowed now."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from services.rectification.contracts import EVALUATION_FLAGGER
from services.rectification.models import Problem
from services.rectification.rules import Flags, RectState, allowed_actions


class ProblemOut(BaseModel):
    problem_id: str
    org_id: str
    cycle_id: str | None
    item_id: str | None
    evaluation_id: str | None  # the evaluation whose published results flagged it
    source: str
    category: str
    severity: str
    title: str
    description: str
    state: str
    owner_person_id: str | None
    verifier_person_id: str | None
    due: date | None
    opened_at: datetime
    closed_at: datetime | None
    days_open: int
    overdue_level: int
    extension_pending: bool
    requested_due: date | None
    recheck_due: date | None
    recheck_open: bool
    progress_percent: int
    plan: dict[str, Any] | None
    version: int
    allowed_actions: list[str]


def problem_out(p: Problem, now: datetime) -> ProblemOut:
    opened = p.opened_at if p.opened_at.tzinfo else p.opened_at.replace(tzinfo=now.tzinfo)
    closed = p.closed_at
    if closed is not None and closed.tzinfo is None:
        closed = closed.replace(tzinfo=now.tzinfo)
    end = closed if p.state in ("closed", "dismissed") and closed is not None else now
    flags = Flags(extension_pending=p.extension_pending, recheck_open=p.recheck_open)
    return ProblemOut(
        problem_id=p.id,
        org_id=p.org_id,
        cycle_id=p.cycle_id,
        item_id=p.item_id,
        evaluation_id=(
            p.created_by.removeprefix(EVALUATION_FLAGGER)
            if p.created_by.startswith(EVALUATION_FLAGGER)
            else None
        ),
        source=p.source,
        category=p.category,
        severity=p.severity,
        title=p.title,
        description=p.description,
        state=p.state,
        owner_person_id=p.owner_person_id,
        verifier_person_id=p.verifier_person_id,
        due=p.due,
        opened_at=opened,
        closed_at=closed,
        days_open=max(0, (end - opened).days),
        overdue_level=p.overdue_level,
        extension_pending=p.extension_pending,
        requested_due=p.requested_due,
        recheck_due=p.recheck_due,
        recheck_open=p.recheck_open,
        progress_percent=p.progress_percent,
        plan=p.plan,
        version=p.version,
        allowed_actions=[a.value for a in allowed_actions(RectState(p.state), flags)],
    )
