"""The live (dynamic) view: any day, an org and its children with the ledger part and the
deductions so far, per aspect, ranked — the year-end formula's ledger part on the data recorded
by the end of that day in the cycle's timezone (items decided and achievements confirmed by
then, deduction events until then). The mid-year evaluation freezes the same computation on
``midyear`` (``results.cut_off``)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlmodel import Session, col, select

from services.cycle.models import Cycle
from services.evaluation import formula
from services.evaluation.contracts import Rubric
from services.evaluation.defaults import cycle_rubric
from services.evaluation.models import Evaluation
from services.evaluation.results import (
    achievement_rate,
    day_cut,
    decided_items_of,
    deduction_events_of,
)
from services.org.models import Org


class LiveRow(BaseModel):
    org_id: str
    org_name: str
    ledger: float | None  # the ledger part: achievement by aspect, minus the deductions
    deductions: float
    deductions_by_aspect: dict[str, float]  # the aspects that have deduction indicators
    aspects: dict[str, float | None]  # achievement rate in percent
    rank: int | None


class LiveView(BaseModel):
    cycle_id: str
    org_id: str
    as_of: date
    rubric_version: int
    rows: list[LiveRow]  # the org first, then its children ranked


def rubric_for(session: Session, cycle: Cycle) -> Rubric:
    """The rubric of the cycle's latest evaluation, else its plan's, else the shipped one."""
    latest = session.exec(
        select(Evaluation)
        .where(Evaluation.cycle_id == cycle.id)
        .order_by(col(Evaluation.created_at).desc())
    ).first()
    return Rubric.model_validate(latest.rubric) if latest is not None else cycle_rubric(cycle.plan)


def live_view(session: Session, cycle: Cycle, org: Org, rubric: Rubric, day: date) -> LiveView:
    """As recorded by the end of ``day`` in the cycle's timezone."""
    children = session.exec(
        select(Org).where(Org.parent_id == org.id).order_by(col(Org.path))
    ).all()
    orgs = [org, *children]
    cut = day_cut(day, cycle.timezone)
    decided_of = decided_items_of(session, cycle.id, [o.id for o in orgs], cut)
    events_of = deduction_events_of(
        session, [(o.id, o.path) for o in orgs], cycle.launched_at, cut.until
    )
    rows = []
    for o in orgs:
        decided = decided_of.get(o.id, {})
        off = formula.deductions(rubric, events_of[o.id])
        rows.append(
            LiveRow(
                org_id=o.id,
                org_name=o.name,
                ledger=formula.ledger_part(rubric, decided, off),
                deductions=off,
                deductions_by_aspect=formula.deductions_by_aspect(rubric, events_of[o.id]),
                aspects={a.value: achievement_rate(decided, a.value) for a in rubric.aspects},
                rank=None,
            )
        )
    ranks = formula.ranks({r.org_id: r.ledger for r in rows[1:]})
    for r in rows[1:]:
        r.rank = ranks[r.org_id]
    rows[1:] = sorted(rows[1:], key=lambda r: (r.rank is None, r.rank or 0, r.org_id))
    return LiveView(
        cycle_id=cycle.id, org_id=org.id, as_of=day, rubric_version=rubric.version, rows=rows
    )
