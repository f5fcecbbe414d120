"""The annual cycle's plan: item templates per org kind, the calendar, the reminder policy.

Pydantic only (no tables), so workflows can carry it. ``validate_against_tree`` adds the checks
that need the org tree (every template's org kind must exist under the root). Field names follow
docs/design.md §3 exactly: they are part of the API contract."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.core.clock import DEFAULT_TIMEZONE
from services.core.text import check_line, check_text
from services.deadlines.contracts import ReminderPolicy


class Aspect(StrEnum):
    ideology = "ideology"
    organization = "organization"
    conduct = "conduct"
    integrity = "integrity"
    institutions = "institutions"


class Responsibility(StrEnum):
    collective = "collective"
    primary = "primary"
    direct = "direct"
    specific = "specific"


class Indicator(BaseModel):
    """Quantified by number, time and standard."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=200)
    target: float = Field(ge=0, allow_inf_nan=False)
    unit: str = Field(min_length=1, max_length=40)
    standard: str = Field(default="", max_length=500)
    # The standard asks for proof: reaching the target is reported with evidence attached.
    evidence_required: bool = False


class ItemTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Aspect
    responsibility: Responsibility
    title: str = Field(min_length=1, max_length=300)
    indicator: Indicator
    due: date
    # The named person: for specific responsibility; for direct, the person in charge (else
    # the org's deputy).
    assignee_person_id: str | None = None


class Calendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sign_by: date
    commitments_by: date
    midyear: date
    yearend: date
    closes_on: date

    @model_validator(mode="after")
    def _in_order(self) -> Calendar:
        order = ["sign_by", "commitments_by", "midyear", "yearend", "closes_on"]
        for earlier, later in pairwise(order):
            if getattr(self, earlier) > getattr(self, later):
                raise ValueError(f"{earlier} must not be after {later}")
        return self


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = DEFAULT_TIMEZONE
    calendar: Calendar
    templates: dict[str, list[ItemTemplate]]
    extra_items: dict[str, list[ItemTemplate]] = Field(default_factory=dict)
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    # The rubric this cycle's evaluations use when they name none (checked by
    # ``services.evaluation.defaults.plan_rubric_errors`` when the cycle is launched, as the
    # cycle domain does not know rubrics); None: the shipped one.
    rubric: dict[str, Any] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r}") from None
        return v

    @field_validator("templates")
    @classmethod
    def _templates_not_empty(
        cls, v: dict[str, list[ItemTemplate]]
    ) -> dict[str, list[ItemTemplate]]:
        if not v:
            raise ValueError("at least one org kind needs a template")
        return v

    def field_errors(self) -> list[dict[str, str]]:
        """Rules across fields, each error naming its field as the API reports it."""
        errors: list[dict[str, str]] = []
        closes = self.calendar.closes_on
        for section in ("templates", "extra_items"):
            for key, items in getattr(self, section).items():
                if not items:
                    errors.append(
                        {"field": f"plan.{section}.{key}", "message": "must list at least one item"}
                    )
                for i, item in enumerate(items):
                    errors.extend(item_text_errors(f"plan.{section}.{key}.{i}", item))
                    if item.due > closes:
                        errors.append(
                            {
                                "field": f"plan.{section}.{key}.{i}.due",
                                "message": f"{item.due} is after the cycle closes ({closes})",
                            }
                        )
        return errors


def item_text_errors(prefix: str, item: ItemTemplate) -> list[dict[str, str]]:
    """The item's texts checked as people's input is (``services.core.text``). Checked here, not
    in the model, because workflows carry these models: what they already hold must load."""
    texts = [
        ("title", item.title, check_line),
        ("indicator.metric", item.indicator.metric, check_line),
        ("indicator.unit", item.indicator.unit, check_line),
        ("indicator.standard", item.indicator.standard, check_text),
    ]
    errors = []
    for field, value, check in texts:
        try:
            check(value)
        except ValueError as exc:
            errors.append({"field": f"{prefix}.{field}", "message": str(exc)})
    return errors


def validate_against_tree(
    plan: Plan, kinds_in_tree: set[str], org_ids_in_tree: set[str]
) -> list[dict[str, str]]:
    """Errors for template kinds and extra-item orgs that do not exist under the cycle's root."""
    errors = plan.field_errors()
    for kind in plan.templates:
        if kind not in kinds_in_tree:
            known = ", ".join(sorted(kinds_in_tree)) or "none"
            errors.append(
                {
                    "field": f"plan.templates.{kind}",
                    "message": f"no org of kind {kind!r} under the root (kinds: {known})",
                }
            )
    for org_id in plan.extra_items:
        if org_id not in org_ids_in_tree:
            errors.append(
                {
                    "field": f"plan.extra_items.{org_id}",
                    "message": f"org {org_id!r} is not under the root",
                }
            )
    return errors


_DEFAULT_ITEMS: list[tuple[str, str, str, str, float, str, str]] = [
    # (aspect, responsibility, title, metric, target, unit, standard)
    (
        "organization",
        "collective",
        "Committee meetings",
        "meetings held",
        12,
        "meetings",
        "minutes filed",
    ),
    (
        "organization",
        "primary",
        "Democratic life meetings",
        "meetings held",
        2,
        "meetings",
        "every six months; reported to the members' conference",
    ),
    (
        "organization",
        "collective",
        "Democratic appraisal of members",
        "appraisals held",
        1,
        "appraisal",
        "outstanding members commended",
    ),
    (
        "ideology",
        "collective",
        "Theory study: experience exchange",
        "sessions",
        12,
        "sessions",
        "monthly",
    ),
    ("ideology", "direct", "Theory study: guidance", "sessions", 4, "sessions", "quarterly"),
    ("ideology", "direct", "Theory study: assessment", "assessments", 1, "assessment", "annual"),
    (
        "ideology",
        "direct",
        "Analysis of the members' thinking",
        "analyses",
        12,
        "analyses",
        "monthly; one targeted education each",
    ),
    (
        "conduct",
        "primary",
        "Investigation and research at the grassroots",
        "reports",
        2,
        "reports",
        "written reports filed",
    ),
    (
        "conduct",
        "collective",
        "Public service commitments",
        "lists published",
        1,
        "list",
        "supervised by members and the public",
    ),
    (
        "integrity",
        "direct",
        "Integrity education",
        "sessions",
        2,
        "sessions",
        "risk posts supervised",
    ),
    (
        "institutions",
        "primary",
        "Responsibility letters signed level by level",
        "letters signed",
        100,
        "%",
        "by sign_by",
    ),
    (
        "institutions",
        "primary",
        "Secretary's special debriefing on the year's work",
        "debriefings",
        1,
        "debriefing",
        "at year end",
    ),
    (
        "institutions",
        "collective",
        "Party-building funds budgeted",
        "yuan per member",
        20,
        "yuan",
        "at least",
    ),
]


def default_plan(year: int, kinds: list[str] | None = None) -> Plan:
    """The shipped plan for ``year``: the same items for each org kind (default: the demo's)."""
    cal = Calendar(
        sign_by=date(year, 1, 31),
        commitments_by=date(year, 2, 28),
        midyear=date(year, 6, 30),
        yearend=date(year, 12, 15),
        closes_on=date(year, 12, 31),
    )
    items = [
        ItemTemplate(
            category=Aspect(a),
            responsibility=Responsibility(r),
            title=t,
            indicator=Indicator(metric=m, target=n, unit=u, standard=s),
            due=cal.yearend,
        )
        for a, r, t, m, n, u, s in _DEFAULT_ITEMS
    ]
    return Plan(
        calendar=cal,
        templates={k: items for k in (kinds or ["committee", "general_branch", "branch"])},
    )


def plan_errors(raw: Any) -> list[dict[str, str]]:
    """Parse-level errors of a raw plan, fields named ``plan.…`` as the API reports them."""
    try:
        Plan.model_validate(raw)
    except ValidationError as exc:
        return [
            {"field": "plan." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
    return []


def same_day_in(d: date, year: int) -> date:
    try:
        return d.replace(year=year)
    except ValueError:  # 29 February in a common year
        return d.replace(year=year, day=28)


def plan_for_year(plan: Plan, year: int) -> Plan:
    """The plan with every date moved to ``year`` (the annual schedule reuses one plan file).

    The calendar's ``sign_by`` year is the plan's year; dates keep their distance in years from
    it, so a ``closes_on`` in the next January stays in the next January.
    """
    shift = year - plan.calendar.sign_by.year

    def move(d: date) -> date:
        return same_day_in(d, d.year + shift)

    def items(by: dict[str, list[ItemTemplate]]) -> dict[str, list[ItemTemplate]]:
        return {k: [t.model_copy(update={"due": move(t.due)}) for t in v] for k, v in by.items()}

    cal = plan.calendar
    return plan.model_copy(
        update={
            "calendar": Calendar(
                sign_by=move(cal.sign_by),
                commitments_by=move(cal.commitments_by),
                midyear=move(cal.midyear),
                yearend=move(cal.yearend),
                closes_on=move(cal.closes_on),
            ),
            "templates": items(plan.templates),
            "extra_items": items(plan.extra_items),
        }
    )
