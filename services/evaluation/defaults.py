"""The rubric shipped with the service: the five aspects weighted equally, each scored from the
ledger (its items' achievement) and by raters, with deductions for escalations, accountability
records and public reports taken up in conduct and integrity, and institutions as the weak link.
A committee starts from it and changes what it needs, for one evaluation or, in the cycle's plan
(``rubric``), for every evaluation of the cycle that names none."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.cycle.plan import Plan
from services.evaluation.contracts import Rubric

DEFAULT_RUBRIC = Rubric.model_validate(
    {
        "version": 2,  # 2: institutions rated on oversight beside its weak link
        "weak_link_factor": 1.5,
        "aspects": {
            "ideology": {
                "weight": 20,
                "indicators": [
                    {"id": "ideology-items", "title": "Items achieved", "max_points": 10,
                     "method": "ledger"},
                    {"id": "ideology-study", "title": "Theory study and its effect",
                     "max_points": 10},
                ],
            },
            "organization": {
                "weight": 20,
                "indicators": [
                    {"id": "organization-items", "title": "Items achieved", "max_points": 10,
                     "method": "ledger"},
                    {"id": "organization-life", "title": "Branch life and member management",
                     "max_points": 10},
                ],
            },
            "conduct": {
                "weight": 20,
                "indicators": [
                    {"id": "conduct-items", "title": "Items achieved", "max_points": 10,
                     "method": "ledger"},
                    {"id": "conduct-style", "title": "Work style and service", "max_points": 10},
                    {"id": "conduct-escalations", "title": "Deadlines escalated",
                     "max_points": 10, "method": "deduction", "events": ["escalation"],
                     "per_event": 1},
                ],
            },
            "integrity": {
                "weight": 20,
                "indicators": [
                    {"id": "integrity-items", "title": "Items achieved", "max_points": 10,
                     "method": "ledger"},
                    {"id": "integrity-clean", "title": "Clean conduct", "max_points": 10},
                    {"id": "integrity-records", "title": "Accountability and reports",
                     "max_points": 10, "method": "deduction",
                     "events": ["accountability", "flagged_report"], "per_event": 2},
                ],
            },
            "institutions": {
                "weight": 20,
                "indicators": [
                    {"id": "institutions-items", "title": "Items achieved", "max_points": 10,
                     "method": "ledger"},
                    {"id": "institutions-rules", "title": "Rules made and kept",
                     "max_points": 10, "weak_link": True},
                    {"id": "institutions-oversight", "title": "Oversight of how rules are applied",
                     "max_points": 10},
                ],
            },
        },
    }
)  # fmt: skip


def cycle_rubric(plan: dict[str, Any]) -> Rubric:
    """The rubric of a cycle's plan (``plan.rubric``), or the shipped one when it names none."""
    raw = plan.get("rubric")
    return Rubric.model_validate(raw) if raw is not None else DEFAULT_RUBRIC


def plan_rubric_errors(plan: Plan) -> list[dict[str, str]]:
    """A plan's rubric checked as an evaluation's would be, each error naming its field
    (``plan.rubric.…``) as the launch answers it; none without a rubric."""
    if plan.rubric is None:
        return []
    try:
        Rubric.model_validate(plan.rubric)
    except ValidationError as exc:
        return [
            {
                "field": ".".join(["plan", "rubric", *(str(p) for p in e["loc"])]),
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
    return []
