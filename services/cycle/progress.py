"""The annual cycle's read model: cycles, letters, items, commitments; launch checks; persistence.

The org workflows (``cycle:{cycle}:org:{org}``) own the state; this module writes each change
they make (row + audit event in one transaction, idempotent by a key the workflow computes) and
answers the API's reads and the cycle's progress view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from services.cycle.contracts import (
    LetterState,
)
from services.cycle.models import Commitment, Cycle, Item, Letter
from services.org.models import Org
from services.org.queries import get_org, under_path


class LevelProgress(BaseModel):
    level: int
    orgs: int
    letters_issued: int  # letters that exist at this level (any state)
    letters_signed: int  # signed at least once and not awaiting a renewed signature
    letters_returned: int
    letters_overdue: int


class CycleProgress(BaseModel):
    cycle_id: str
    root_org_id: str
    year: int
    title: str
    state: str
    timezone: str
    calendar: dict[str, Any]
    launched_at: datetime
    orgs: int
    letters_issued: int
    letters_signed: int
    levels: list[LevelProgress]
    commitments: dict[str, int]
    items: dict[str, int]
    problems: dict[str, int]
    overdue: dict[str, dict[str, int]]  # entity → {overdue level → count}


def cycle_progress(session: Session, cycle: Cycle, under: str | None = None) -> CycleProgress:
    """Aggregated from the read model (never from thousands of workflow queries), over the
    subtree at path ``under`` (default: the whole tree); levels count from the cycle's root."""
    from services.rectification.models import Problem

    root = get_org(session, cycle.root_org_id)
    under = under or root.path
    orgs_by_level: dict[int, int] = {
        int(depth) - root.depth: int(n)
        for depth, n in session.exec(
            select(Org.depth, func.count())
            .where(under_path(Org.path, under))
            .group_by(col(Org.depth))
        ).all()
    }
    letters: dict[int, dict[str, int]] = {}
    overdue_letters: dict[int, int] = {}
    late = col(Letter.overdue_level) > 0
    for level, state, overdue, n in session.exec(
        select(Letter.level, Letter.state, late, func.count())
        .where(Letter.cycle_id == cycle.id, under_path(Letter.org_path, under))
        .group_by(col(Letter.level), col(Letter.state), late)
    ).all():
        by_state = letters.setdefault(int(level), {})
        by_state[str(state)] = by_state.get(str(state), 0) + int(n)
        if overdue:
            overdue_letters[int(level)] = overdue_letters.get(int(level), 0) + int(n)
    levels = [
        LevelProgress(
            level=lv,
            orgs=orgs_by_level.get(lv, 0),
            letters_issued=sum(letters.get(lv, {}).values()),
            letters_signed=letters.get(lv, {}).get(LetterState.signed.value, 0),
            letters_returned=letters.get(lv, {}).get(LetterState.returned.value, 0),
            letters_overdue=overdue_letters.get(lv, 0),
        )
        for lv in sorted(set(orgs_by_level) | set(letters))
    ]

    def counts(column: Any, *where: Any) -> dict[str, int]:
        rows = session.exec(select(column, func.count()).where(*where).group_by(column)).all()
        return {str(k): int(n) for k, n in rows}

    def overdue_levels(model: Any, *where: Any) -> dict[str, int]:
        rows = session.exec(
            select(model.overdue_level, func.count())
            .where(model.overdue_level > 0, *where)
            .group_by(model.overdue_level)
        ).all()
        return {str(k): int(n) for k, n in rows}

    return CycleProgress(
        cycle_id=cycle.id,
        root_org_id=cycle.root_org_id,
        year=cycle.year,
        title=cycle.title,
        state=cycle.state,
        timezone=cycle.timezone,
        calendar=dict(cycle.plan.get("calendar", {})),
        launched_at=cycle.launched_at,
        orgs=sum(orgs_by_level.values()),
        letters_issued=sum(lv.letters_issued for lv in levels),
        letters_signed=sum(lv.letters_signed for lv in levels),
        levels=levels,
        commitments=counts(
            Commitment.state,
            Commitment.cycle_id == cycle.id,
            under_path(Commitment.org_path, under),
        ),
        items=counts(Item.state, Item.cycle_id == cycle.id, under_path(Item.org_path, under)),
        problems=counts(
            Problem.state, Problem.cycle_id == cycle.id, under_path(Problem.org_path, under)
        ),
        overdue={
            "letters": overdue_levels(
                Letter, Letter.cycle_id == cycle.id, under_path(Letter.org_path, under)
            ),
            "problems": overdue_levels(
                Problem,
                Problem.cycle_id == cycle.id,
                under_path(Problem.org_path, under),
                col(Problem.state).not_in(["closed", "dismissed"]),
            ),
        },
    )
