"""Two years side by side, per org: an org and each of its direct children, each over its
subtree, in two cycles of the same root: letters signed on time, items achieved by aspect,
problems opened, closed on time and carried in, accountability records, and the evaluation's
grade and rank when one was published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from services.core.clock import deadline_instant
from services.core.errors import Invalid
from services.cycle.models import Cycle, Item, Letter
from services.cycle.plan import Calendar
from services.deadlines.accountability import Accountability
from services.evaluation.models import Evaluation, EvaluationResult
from services.org.models import Org
from services.org.queries import like_prefix, under_path
from services.rectification.models import Carryover, Problem

SHOWN_PHASES = ("published", "closed")  # a grade counts once its evaluation is published


class YearFigures(BaseModel):
    cycle_id: str
    year: int
    letters: int
    letters_signed_on_time: int
    items_by_aspect: dict[str, dict[str, int]]  # aspect -> {items, achieved, missed}
    problems_opened: int
    problems_closed_on_time: int
    problems_carried_in: int
    accountability_records: int
    evaluation_grade: str | None = None
    evaluation_rank: int | None = None


class OrgYears(BaseModel):
    org_id: str
    org_name: str
    a: YearFigures
    b: YearFigures


class Comparison(BaseModel):
    a: str
    b: str
    org_id: str
    orgs: list[OrgYears]  # the org first, then its direct children by id


def compare(
    session: Session, a: Cycle, b: Cycle, org: Org, children_at_most: int | None = None
) -> Comparison:
    if a.root_org_id != b.root_org_id:
        message = f"{a.id!r} and {b.id!r} are cycles of different roots"
        raise Invalid(message, errors=[{"field": "b", "message": message}])
    q = select(Org).where(Org.parent_id == org.id).order_by(col(Org.id))
    children = session.exec(q.limit(children_at_most) if children_at_most else q).all()
    rows = [
        OrgYears(
            org_id=o.id,
            org_name=o.name,
            a=_figures(session, a, o),
            b=_figures(session, b, o),
        )
        for o in [org, *children]
    ]
    return Comparison(a=a.id, b=b.id, org_id=org.id, orgs=rows)


def _count(session: Session, *where: Any) -> int:
    return int(session.exec(select(func.count()).where(*where)).one())


def _figures(session: Session, cycle: Cycle, org: Org) -> YearFigures:
    path = org.path
    sign_by_day = Calendar.model_validate(cycle.plan["calendar"]).sign_by
    sign_by = deadline_instant(sign_by_day, cycle.timezone)
    letters = session.exec(
        select(Letter.signed_version, Letter.signed_at).where(
            Letter.cycle_id == cycle.id, under_path(Letter.org_path, path)
        )
    ).all()
    on_time = sum(1 for v, at in letters if v is not None and at and _utc(at) <= sign_by)
    mine = (col(Problem.cycle_id) == cycle.id, under_path(Problem.org_path, path))
    carried = select(Carryover.problem_id).where(Carryover.cycle_id == cycle.id)
    problem_ids = select(Problem.id).where(*mine)
    return YearFigures(
        cycle_id=cycle.id,
        year=cycle.year,
        letters=len(letters),
        letters_signed_on_time=on_time,
        items_by_aspect=_aspects(session, cycle, path),
        problems_opened=_count(session, *mine),
        problems_closed_on_time=sum(
            1
            for due, closed in session.exec(
                select(col(Problem.due), col(Problem.closed_at)).where(
                    *mine, Problem.state == "closed"
                )
            ).all()
            if closed is not None
            and (due is None or _utc(closed) <= deadline_instant(due, cycle.timezone))
        ),
        problems_carried_in=_count(
            session, col(Problem.id).in_(carried), under_path(Problem.org_path, path)
        ),
        accountability_records=_count(
            session,
            under_path(Accountability.org_path, path),
            col(Accountability.overturned).is_(False),
            col(Accountability.entity_id).like(like_prefix(f"{cycle.id}:"), escape="\\")
            | (
                (col(Accountability.entity_type) == "problem")
                & col(Accountability.entity_id).in_(problem_ids)
            ),
        ),
        **_evaluation(session, cycle, org),
    )


def _aspects(session: Session, cycle: Cycle, path: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for category, state, n in session.exec(
        select(Item.category, Item.state, func.count())
        .where(Item.cycle_id == cycle.id, under_path(Item.org_path, path))
        .group_by(col(Item.category), col(Item.state))
    ).all():
        figures = out.setdefault(category, {"items": 0, "achieved": 0, "missed": 0})
        figures["items"] += int(n)
        if state in ("achieved", "missed"):
            figures[state] += int(n)
    return out


def _evaluation(session: Session, cycle: Cycle, org: Org) -> dict[str, Any]:
    """The grade and rank of the cycle's latest published evaluation of the org (year-end
    before mid-year)."""
    row = session.exec(
        select(EvaluationResult.grade, EvaluationResult.rank)
        .join(Evaluation, col(Evaluation.id) == col(EvaluationResult.evaluation_id))
        .where(
            Evaluation.cycle_id == cycle.id,
            col(Evaluation.phase).in_(SHOWN_PHASES),
            EvaluationResult.org_id == org.id,
        )
        .order_by((col(Evaluation.kind) == "yearend").desc(), col(Evaluation.id).desc())
    ).first()
    if row is None:
        return {}
    return {"evaluation_grade": row[0], "evaluation_rank": row[1]}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
