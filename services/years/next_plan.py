"""Next year's plan from this year's: the same plan with every date moved one year, and beside
each template and extra item what came of it this year, to edit and launch.

Items are matched to what made them by their place in the letter: an org's letter lists its
kind's templates first (seq 1..k), then its extra items; items added later by amendment are
not in the plan and are not counted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from services.cycle.models import Cycle, Item
from services.cycle.plan import Plan, plan_for_year
from services.org.models import Org


class TemplateOutcome(BaseModel):
    """One template of an org kind: how its items ended this year across the orgs of the kind."""

    title: str
    orgs: int
    achieved: int
    missed: int
    open: int
    achievement_rate: float | None  # achieved / decided (None: none decided yet)


class ExtraOutcome(BaseModel):
    title: str
    state: str | None  # None: the org had no letter
    actual: float | None
    target: float


class NextPlan(BaseModel):
    from_cycle_id: str
    year: int
    plan: dict[str, Any]  # launchable as it is: POST /api/v1/cycles with this year
    templates: dict[str, list[TemplateOutcome]]  # by org kind, in the plan's order
    extra_items: dict[str, list[ExtraOutcome]]  # by org, in the plan's order


def next_plan(session: Session, cycle: Cycle) -> NextPlan:
    plan = Plan.model_validate(cycle.plan)
    rows = session.exec(
        select(Item, Org.kind)
        .join(Org, col(Org.id) == col(Item.org_id))
        .where(Item.cycle_id == cycle.id)
    ).all()
    per_template: dict[tuple[str, int], list[str]] = defaultdict(list)
    per_extra: dict[tuple[str, int], tuple[str, float | None]] = {}
    for item, kind in rows:
        k = len(plan.templates.get(kind, []))
        if item.seq <= k:
            per_template[(kind, item.seq - 1)].append(item.state)
        else:
            per_extra[(item.org_id, item.seq - k - 1)] = (item.state, item.actual)
    templates = {
        kind: [_outcome(t.title, per_template.get((kind, i), [])) for i, t in enumerate(items)]
        for kind, items in plan.templates.items()
    }
    extra = {
        org_id: [
            ExtraOutcome(
                title=t.title,
                state=per_extra.get((org_id, i), (None, None))[0],
                actual=per_extra.get((org_id, i), (None, None))[1],
                target=t.indicator.target,
            )
            for i, t in enumerate(items)
        ]
        for org_id, items in plan.extra_items.items()
    }
    moved = plan_for_year(plan, cycle.year + 1)
    return NextPlan(
        from_cycle_id=cycle.id,
        year=cycle.year + 1,
        plan=moved.model_dump(mode="json"),
        templates=templates,
        extra_items=extra,
    )


def _outcome(title: str, states: list[str]) -> TemplateOutcome:
    achieved = states.count("achieved")
    missed = states.count("missed")
    decided = achieved + missed
    return TemplateOutcome(
        title=title,
        orgs=len(states),
        achieved=achieved,
        missed=missed,
        open=len(states) - decided,
        achievement_rate=round(achieved / decided, 4) if decided else None,
    )
