"""Rectifications waiting on one person: the ones they own, and for overseers the ones waiting
for a decision in their scope (a problem to confirm, a plan to approve, a completion to verify,
an extension to decide). Overdue first, then by due date."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import Session, col, select

from services.org.queries import under_path
from services.rectification.models import Problem
from services.rectification.rules import OPEN_STATES, OVERSEER_ROLES, RectState

DECISION_STATES = (
    RectState.identified.value,
    RectState.plan_submitted.value,
    RectState.completion_submitted.value,
)


def owned_by(session: Session, person_id: str | None, limit: int = 100) -> list[Problem]:
    if person_id is None:
        return []
    rows = session.exec(
        select(Problem)
        .where(
            Problem.owner_person_id == person_id,
            col(Problem.state).in_([s.value for s in OPEN_STATES]),
        )
        .order_by(col(Problem.overdue_level).desc(), col(Problem.due), col(Problem.id))
        .limit(limit)
    ).all()
    return list(rows)


def awaiting_decision(
    session: Session, role: str, scope_path: str, limit: int = 100
) -> list[Problem]:
    if role not in OVERSEER_ROLES:
        return []
    rows = session.exec(
        select(Problem)
        .where(
            under_path(Problem.org_path, scope_path),
            or_(col(Problem.state).in_(DECISION_STATES), col(Problem.extension_pending)),
        )
        .order_by(col(Problem.overdue_level).desc(), col(Problem.due), col(Problem.id))
        .limit(limit)
    ).all()
    return list(rows)
