"""The cycle's progress view: orgs and letters per level, commitments, items and problems by
state, overdue counts, aggregated from the read model over a subtree.
"""

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
from services.rectification.models import Carryover, Problem


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
    # Rectifications still open at launch, carried in from the root's earlier years, by state now.
    carried: dict[str, int] = {}
    overdue: dict[str, dict[str, int]]  # entity → {overdue level → count}


def _levels(session: Session, cycle: Cycle, root: Org, under: str) -> list[LevelProgress]:
    """Orgs and letters per level below the root (level 0 is the root)."""
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
    return [
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


def _counts(session: Session, column: Any, *where: Any) -> dict[str, int]:
    rows = session.exec(select(column, func.count()).where(*where).group_by(column)).all()
    return {str(k): int(n) for k, n in rows}


def _overdue_levels(session: Session, model: Any, *where: Any) -> dict[str, int]:
    rows = session.exec(
        select(model.overdue_level, func.count())
        .where(model.overdue_level > 0, *where)
        .group_by(model.overdue_level)
    ).all()
    return {str(k): int(n) for k, n in rows}


def cycle_progress(session: Session, cycle: Cycle, under: str | None = None) -> CycleProgress:
    """Aggregated from the read model (never from thousands of workflow queries), over the
    subtree at path ``under`` (default: the whole tree); levels count from the cycle's root."""
    root = get_org(session, cycle.root_org_id)
    under = under or root.path
    levels = _levels(session, cycle, root, under)
    in_cycle = {
        m: (m.cycle_id == cycle.id, under_path(m.org_path, under))
        for m in (Commitment, Item, Problem, Letter)
    }
    return CycleProgress(
        cycle_id=cycle.id,
        root_org_id=cycle.root_org_id,
        year=cycle.year,
        title=cycle.title,
        state=cycle.state,
        timezone=cycle.timezone,
        calendar=dict(cycle.plan.get("calendar", {})),
        launched_at=cycle.launched_at,
        orgs=sum(lv.orgs for lv in levels),
        letters_issued=sum(lv.letters_issued for lv in levels),
        letters_signed=sum(lv.letters_signed for lv in levels),
        levels=levels,
        commitments=_counts(session, Commitment.state, *in_cycle[Commitment]),
        items=_counts(session, Item.state, *in_cycle[Item]),
        problems=_counts(session, Problem.state, *in_cycle[Problem]),
        carried=_counts(
            session,
            Problem.state,
            col(Problem.id).in_(select(Carryover.problem_id).where(Carryover.cycle_id == cycle.id)),
            under_path(Problem.org_path, under),
        ),
        overdue={
            "letters": _overdue_levels(session, Letter, *in_cycle[Letter]),
            "problems": _overdue_levels(
                session,
                Problem,
                *in_cycle[Problem],
                col(Problem.state).not_in(["closed", "dismissed"]),
            ),
        },
    )
