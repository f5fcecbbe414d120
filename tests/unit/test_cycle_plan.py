"""The cycle plan: docs/design.md's document parses, the default plan is valid, refusals name fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.cycle.plan import Plan, default_plan, plan_errors, validate_against_tree

DOC: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "calendar": {
        "sign_by": "2027-01-31",
        "commitments_by": "2027-02-28",
        "midyear": "2027-06-30",
        "yearend": "2027-12-15",
        "closes_on": "2027-12-31",
    },
    "templates": {
        "branch": [
            {
                "category": "organization",
                "responsibility": "primary",
                "title": "Hold monthly branch meetings",
                "indicator": {
                    "metric": "meetings held",
                    "target": 12,
                    "unit": "meetings",
                    "standard": "minutes filed within 3 days",
                },
                "due": "2027-12-15",
            }
        ]
    },
    "extra_items": {},
    "reminders": {
        "before_days": [7, 3, 1],
        "escalate_after_days": [0, 3, 7, 14],
        "accountability_at": {"7": "reminder_talk", "14": "written_inquiry"},
    },
}


def with_(path: str, value: object) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(DOC))
    *parents, last = path.split(".")
    node: Any = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    return doc


def test_the_design_document_parses() -> None:
    plan = Plan.model_validate(DOC)
    assert plan.templates["branch"][0].indicator.target == 12
    assert validate_against_tree(plan, {"committee", "branch"}, {"city"}) == []


def test_default_plan_is_valid_and_shipped() -> None:
    plan = default_plan(2027)
    assert len(plan.templates["branch"]) == 13
    assert {i.category.value for i in plan.templates["branch"]} == {
        "ideology",
        "organization",
        "conduct",
        "integrity",
        "institutions",
    }
    assert validate_against_tree(plan, {"committee", "general_branch", "branch"}, set()) == []
    shipped = Path(__file__).resolve().parents[2] / "deploy" / "plans" / "default-plan-2027.json"
    assert Plan.model_validate_json(shipped.read_text()) == plan


def test_refusals_name_the_field() -> None:
    cases = {
        "plan.templates.branch.0.indicator.target": with_(
            "templates.branch.0.indicator.target", -1
        ),
        "plan.templates.branch.0.category": with_("templates.branch.0.category", "weather"),
        "plan.calendar": with_("calendar.sign_by", "2027-12-31"),
        "plan.timezone": with_("timezone", "Mars/Olympus"),
        "plan.reminders.before_days": with_("reminders.before_days", [0]),
    }
    for field, doc in cases.items():
        errors = plan_errors(doc)
        assert any(e["field"].startswith(field) for e in errors), (field, errors)
    assert plan_errors(DOC) == []


def test_rules_against_the_tree() -> None:
    late = Plan.model_validate(with_("templates.branch.0.due", "2028-01-05"))
    assert [e["field"] for e in late.field_errors()] == ["plan.templates.branch.0.due"]
    empty = Plan.model_validate(with_("templates.branch", []))
    assert [e["field"] for e in empty.field_errors()] == ["plan.templates.branch"]
    plan = Plan.model_validate(with_("extra_items", {"ghost": DOC["templates"]["branch"]}))
    errors = validate_against_tree(plan, {"committee"}, {"city"})
    assert [e["field"] for e in errors] == ["plan.templates.branch", "plan.extra_items.ghost"]
