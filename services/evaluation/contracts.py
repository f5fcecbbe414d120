"""The evaluation's vocabulary: the rubric (five aspects, weighted indicators, the weak-link
factor), evaluator groups, the weights of the three parts, calibration entries, debriefing
ratings, and the request that starts an evaluation.

Pydantic only, so the evaluation workflow can carry them. Every validator names the field it
refuses, so a 422 tells the organizer exactly what to fix.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.core.text import Line, Text
from services.cycle.plan import Aspect
from services.org.contracts import ID_PATTERN

SUM = 100  # weights of aspects, groups and parts are percentages


class Method(StrEnum):
    rating = "rating"  # evaluators give 0..max_points
    ledger = "ledger"  # the achievement rate of the org's decided items in the aspect
    deduction = "deduction"  # points off per event, capped at max_points


class DeductionEvent(StrEnum):
    escalation = "escalation"  # a deadline escalated up the chain of heads
    accountability = "accountability"  # an accountability record
    flagged_report = "flagged_report"  # a public report taken up as a problem


class IndicatorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    title: Line = Field(min_length=1, max_length=300)
    max_points: float = Field(gt=0, le=1000, allow_inf_nan=False)
    method: Method = Method.rating
    weak_link: bool = False  # weighs weak_link_factor times as much within its aspect
    # deduction indicators: which events cost points, and how many each
    events: list[DeductionEvent] = Field(default_factory=lambda: list(DeductionEvent))
    per_event: float = Field(default=1, gt=0, le=1000, allow_inf_nan=False)


class AspectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(ge=0, le=100, allow_inf_nan=False)
    indicators: list[IndicatorSpec] = Field(min_length=1, max_length=100)


class Rubric(BaseModel):
    """Frozen into an evaluation when it starts; ``version`` names it in every result."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(default=1, ge=1)
    aspects: dict[Aspect, AspectSpec] = Field(min_length=1)
    weak_link_factor: float = Field(default=1.5, ge=1, le=5, allow_inf_nan=False)

    @model_validator(mode="after")
    def _sums_and_ids(self) -> Rubric:
        total = sum(a.weight for a in self.aspects.values())
        if abs(total - SUM) > 1e-9:
            raise ValueError(f"aspects' weights sum to {total:g}, not {SUM}")
        seen: set[str] = set()
        for spec in self.aspects.values():
            for ind in spec.indicators:
                if ind.id in seen:
                    raise ValueError(f"indicator id {ind.id!r} appears twice")
                seen.add(ind.id)
        return self

    def indicators(self, method: Method) -> dict[str, IndicatorSpec]:
        return {
            i.id: i for spec in self.aspects.values() for i in spec.indicators if i.method is method
        }


class GroupName(StrEnum):
    superior = "superior"  # the parent org's head and committee
    peers = "peers"  # heads of sibling orgs
    members = "members"  # members of the org
    public = "public"  # anonymous ballots by a link code per subject
    external = "external"  # named accounts of an entrusted body


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: GroupName
    weight: float = Field(gt=0, le=100, allow_inf_nan=False)
    min_size: int = Field(ge=1, le=1000)


DEFAULT_GROUPS = [
    GroupSpec(name=GroupName.superior, weight=40, min_size=1),
    GroupSpec(name=GroupName.peers, weight=20, min_size=3),
    GroupSpec(name=GroupName.members, weight=20, min_size=3),
    GroupSpec(name=GroupName.public, weight=10, min_size=3),
    GroupSpec(name=GroupName.external, weight=10, min_size=1),
]


class PartWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ledger: float = Field(default=50, ge=0, le=100, allow_inf_nan=False)
    rating: float = Field(default=30, ge=0, le=100, allow_inf_nan=False)
    debriefing: float = Field(default=20, ge=0, le=100, allow_inf_nan=False)

    @model_validator(mode="after")
    def _sum(self) -> PartWeights:
        total = self.ledger + self.rating + self.debriefing
        if abs(total - SUM) > 1e-9:
            raise ValueError(f"the parts' weights sum to {total:g}, not {SUM}")
        return self


class Kind(StrEnum):
    midyear = "midyear"
    yearend = "yearend"
    adhoc = "adhoc"


class DebriefingRating(StrEnum):
    excellent = "excellent"  # 好
    good = "good"  # 较好
    fair = "fair"  # 一般
    poor = "poor"  # 差


DEBRIEFING_POINTS = {
    DebriefingRating.excellent: 100.0,
    DebriefingRating.good: 80.0,
    DebriefingRating.fair: 60.0,
    DebriefingRating.poor: 0.0,
}


class Grade(StrEnum):
    excellent = "excellent"  # 好 ≥ 90
    good = "good"  # 较好 ≥ 80
    fair = "fair"  # 一般 ≥ 60
    poor = "poor"  # 差


class AdjustmentKind(StrEnum):
    bonus = "bonus"
    penalty = "penalty"
    veto = "veto"  # caps the grade at fair


class Adjustment(BaseModel):
    """A calibration entry on a subject: points added or taken off (±10 in all), or a veto."""

    model_config = ConfigDict(extra="forbid")

    kind: AdjustmentKind
    points: float = Field(default=0, ge=0, le=10, allow_inf_nan=False)
    reason: Text = Field(min_length=1, max_length=2000)


class Subjects(BaseModel):
    model_config = ConfigDict(extra="forbid")

    under: str = Field(pattern=ID_PATTERN)
    levels: list[int] = Field(min_length=1, max_length=20)

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[int]) -> list[int]:
        if any(level < 0 for level in v):
            raise ValueError("levels count from 0 (the cycle's root)")
        return sorted(set(v))


class EvaluationIn(BaseModel):
    """``POST /api/v1/evaluations``: the committee of the cycle's root starts one."""

    model_config = ConfigDict(extra="forbid")

    cycle_id: str = Field(min_length=1, max_length=80)
    kind: Kind
    title: Line = Field(min_length=1, max_length=300)
    subjects: Subjects
    rubric: Rubric | None = None  # None: the cycle plan's, else the shipped one (defaults.py)
    groups: list[GroupSpec] = Field(default_factory=lambda: list(DEFAULT_GROUPS), min_length=1)
    opens_on: date
    rating_deadline: date
    debriefing_due: date | None = None
    weights: PartWeights = Field(default_factory=PartWeights)

    # Field validators, not one model validator, so that a refusal names its field (``groups``,
    # ``rating_deadline``, ``debriefing_due``) rather than the whole body.
    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: list[GroupSpec]) -> list[GroupSpec]:
        total = sum(g.weight for g in groups)
        if abs(total - SUM) > 1e-9:
            raise ValueError(f"groups' weights sum to {total:g}, not {SUM}")
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ValueError("a group is named twice")
        return groups

    @field_validator("rating_deadline")
    @classmethod
    def _after_opening(cls, deadline: date, info: ValidationInfo) -> date:
        opens_on = info.data.get("opens_on")
        if opens_on is not None and deadline < opens_on:
            raise ValueError("rating_deadline is before opens_on")
        return deadline

    @field_validator("debriefing_due")
    @classmethod
    def _before_deadline(cls, due: date | None, info: ValidationInfo) -> date | None:
        deadline = info.data.get("rating_deadline")
        if due is not None and deadline is not None and due > deadline:
            raise ValueError("debriefing_due is after rating_deadline: raters rate the debriefing")
        return due


# --- the evaluation's workflow (``eval:{id}``) ----------------------------------------------

WORKFLOW = "EvaluationWorkflow"
CLOSE_RATING_UPDATE = "close_rating"
PUBLISH_UPDATE = "publish"
SET_PHASE_ACTIVITY = "evaluation_set_phase"
REMIND_RATERS_ACTIVITY = "evaluation_remind_raters"
REMIND_DEBRIEFING_ACTIVITY = "evaluation_remind_debriefing"
DEBRIEFING_REMINDERS_PATCH = "debriefing-reminders"  # workflows started before it have none
CLOSED_PHASE_PATCH = "closed-phase"  # workflows started before it end published
CLOSE_RATING_ACTIVITY = "evaluation_close_rating"
PUBLISH_ACTIVITY = "evaluation_publish"
REMIND_DAYS_BEFORE = (7, 3, 1)  # raters who have not voted hear this many days before


class Phase(StrEnum):
    open = "open"  # created; rating opens on opens_on
    rating = "rating"
    calibration = "calibration"  # rating closed; the organizer calibrates, results provisional
    published = "published"  # results visible; being applied
    closed = "closed"  # every result applied; nothing about it changes any more


def evaluation_workflow_id(evaluation_id: str) -> str:
    return f"eval:{evaluation_id}"


class EvaluationPlan(BaseModel):
    """The workflow's input: only ids, dates and the timezone (the rubric and the subjects live
    in the read model, written before the workflow starts)."""

    evaluation_id: str
    opens_on: date
    rating_deadline: date
    timezone: str
    debriefing_due: date | None = None


class PhaseChange(BaseModel):
    evaluation_id: str
    phase: Phase
    by: str  # an account id, or "system:evaluation" for a timer
    at: datetime


class ReminderSlot(BaseModel):
    evaluation_id: str
    days_before: int
    at: datetime


class OrganizerStep(BaseModel):
    """Close rating early, or publish: who asks."""

    account_id: str


class BallotIn(BaseModel):
    """``POST /api/v1/evaluations/{id}/ballots``: one rater's ballot for one subject and group."""

    model_config = ConfigDict(extra="forbid")

    subject_org_id: str = Field(pattern=ID_PATTERN)
    group: GroupName
    scores: dict[str, float] = Field(max_length=500)
    debriefing_rating: DebriefingRating | None = None
    comment: Text = Field(default="", max_length=2000)


class AdjustmentsIn(BaseModel):
    """The organizer's calibration entries for one subject (they replace the previous ones)."""

    model_config = ConfigDict(extra="forbid")

    entries: list[Adjustment] = Field(max_length=20)


class DebriefingIn(BaseModel):
    """A subject's head reports on the year's duties (the secretaries' special debriefing)."""

    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(pattern=ID_PATTERN)
    text: Text = Field(min_length=1, max_length=20000)
    evidence: list[str] = Field(default_factory=list, max_length=20)


class PublicBallotIn(BaseModel):
    """A ballot from the public through a subject's link code: no sign-in, no name."""

    model_config = ConfigDict(extra="forbid")

    scores: dict[str, float] = Field(max_length=500)
    debriefing_rating: DebriefingRating | None = None
    comment: Text = Field(default="", max_length=2000)


class RatersIn(BaseModel):
    """The organizer names a subject's raters in one group (replacing the defaults)."""

    model_config = ConfigDict(extra="forbid")

    group: GroupName
    person_ids: list[str] = Field(max_length=500)

    @field_validator("person_ids")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a person is named twice")
        return v
