"""Rectification's contracts: pure pydantic models and enums that cross the workflow boundary.

The API's request bodies (one typed model per action), the snapshot the ``rect:{id}`` workflow
holds, the transition its activity persists, the Update request and the workflow's input. No
tables and no I/O here: workflow code imports this module.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.core.text import Line, Text
from services.deadlines.contracts import DeadlineState, ReminderPolicy
from services.org.contracts import ID_PATTERN
from services.rectification.rules import Action, RectState

WORKFLOW = "RectificationWorkflow"  # workflow type; its id is ``rect:{problem_id}``
ACT_UPDATE = "act"
CREATED_UPDATE = "created_view"
PERSIST_ACTIVITY = "persist_rectification"
RECHECK_ACTIVITY = "request_recheck"
FLAG_ACTIVITY = "flag_problem"


def rect_workflow_id(problem_id: str) -> str:
    return f"rect:{problem_id}"


class Source(StrEnum):
    inspection = "inspection"
    evaluation = "evaluation"
    indicator = "indicator"
    supervision = "supervision"
    self_check = "self_check"
    audit = "audit"


class Category(StrEnum):
    ideology = "ideology"
    organization = "organization"
    conduct = "conduct"
    integrity = "integrity"
    institutions = "institutions"


class Severity(StrEnum):
    minor = "minor"
    major = "major"
    critical = "critical"


SEVERITY_RANK = {Severity.minor: 1, Severity.major: 2, Severity.critical: 3}


class ProblemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(pattern=ID_PATTERN)
    source: Source
    category: Category
    severity: Severity
    title: Line = Field(min_length=1, max_length=300)
    description: Text = Field(default="", max_length=20000)
    cycle_id: str | None = Field(default=None, max_length=80)
    item_id: str | None = Field(default=None, max_length=200)
    due: date | None = None


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_person_id: str | None = Field(default=None, pattern=ID_PATTERN)
    comment: Text = Field(default="", max_length=4000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_person_id: str = Field(pattern=ID_PATTERN)
    comment: Text = Field(default="", max_length=4000)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measures: Text = Field(min_length=1, max_length=20000)
    target_date: date


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Text = Field(default="", max_length=4000)


class ProgressReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text = Field(min_length=1, max_length=4000)
    percent: int = Field(ge=0, le=100)
    evidence: list[str] = Field(default_factory=list, max_length=50)


class ExtensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_due: date
    reason: Text = Field(min_length=1, max_length=4000)


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: Text = Field(min_length=1, max_length=20000)
    evidence: list[str] = Field(min_length=1, max_length=50)


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: str = Field(pattern="^(pass|fail)$")
    comment: Text = Field(default="", max_length=4000)


class RecheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    held: bool
    comment: Text = Field(default="", max_length=4000)


ActionBody = (
    ConfirmIn
    | ReasonIn
    | AssignIn
    | PlanIn
    | CommentIn
    | ProgressReportIn
    | ExtensionIn
    | CompletionIn
    | VerifyIn
    | RecheckIn
)

ACTION_BODIES: dict[Action, type[ActionBody]] = {
    Action.confirm: ConfirmIn,
    Action.dismiss: ReasonIn,
    Action.assign: AssignIn,
    Action.plan: PlanIn,
    Action.approve_plan: CommentIn,
    Action.return_plan: ReasonIn,
    Action.progress: ProgressReportIn,
    Action.extension: ExtensionIn,
    Action.approve_extension: CommentIn,
    Action.deny_extension: ReasonIn,
    Action.completion: CompletionIn,
    Action.verify: VerifyIn,
    Action.reopen: ReasonIn,
    Action.recheck: RecheckIn,
}


class ProblemSnapshot(BaseModel):
    """Everything the read model keeps about one rectification, as the workflow sees it."""

    problem_id: str
    org_id: str
    org_path: str
    cycle_id: str | None
    item_id: str | None
    source: str
    category: str
    severity: str
    title: str
    description: str
    state: RectState
    owner_person_id: str | None
    verifier_person_id: str | None
    due: date | None
    opened_at: datetime
    closed_at: datetime | None
    extension_pending: bool
    requested_due: date | None
    recheck_due: date | None
    recheck_open: bool
    progress_percent: int
    plan: dict[str, Any] | None
    version: int
    created_by: str
    # None: leave the stored level alone (deadline escalations raise it); 0 resets it (new due).
    overdue_level: int | None = None


class Transition(BaseModel):
    snapshot: ProblemSnapshot
    action: str  # "flag" or an Action value
    actor: str
    at: datetime
    payload: dict[str, Any]


class ActionRequest(BaseModel):
    """One human step, as the API sends it to the workflow's ``act`` update.

    ``body`` is the action's own model (``ACTION_BODIES``). ``reopen_due`` is the new due date a
    reopened rectification gets (the API computes it from the severity).
    """

    action: Action
    actor: str  # account id
    actor_person_id: str | None
    body: ActionBody
    actor_role: str | None = None  # None in requests recorded before roles were sent
    reopen_due: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_body(cls, data: Any) -> Any:
        """Parse ``body`` as the action's model; histories recorded before bodies were typed
        carry the reopen due date inside the body as ``due``."""
        if not isinstance(data, dict) or not isinstance(data.get("body"), dict):
            return data
        body = dict(data["body"])
        action = Action(data["action"])
        out = dict(data)
        if action in (Action.reopen, Action.recheck) and "due" in body:
            out.setdefault("reopen_due", body.pop("due"))
        model = ACTION_BODIES[action]
        try:
            out["body"] = model.model_validate(body)
        except ValidationError:
            # Accepted once under older rules (a history being replayed): load it as stored.
            out["body"] = model.model_construct(**body)
        return out


class RectInput(BaseModel):
    snapshot: ProblemSnapshot
    timezone: str
    policy: ReminderPolicy
    recheck_days: int
    # Carried across continue-as-new:
    deadline: DeadlineState | None = None
    recheck_requested: bool = False
    # The namespace knows the search attributes (services.core.search): keep them current.
    search_attributes: bool = False


PROBLEM_ID_MAX = 40  # services.rectification.models.Problem.id


def indicator_problem_id(item_id: str) -> str:
    """The id of the problem a missed item flags: one problem per item, however often asked.

    ``IND-<item_id>`` when it fits the problem id column; a longer item id (items allow 200
    characters) is replaced by a digest of it, still deterministic.
    """
    pid = f"IND-{item_id}"
    if len(pid) <= PROBLEM_ID_MAX:
        return pid
    return "IND-" + hashlib.sha256(item_id.encode()).hexdigest()[: PROBLEM_ID_MAX - 4]


# ``created_by`` of a problem an evaluation's publication flagged: "evaluation:{evaluation id}".
EVALUATION_FLAGGER = "evaluation:"


class FlagProblemInput(BaseModel):
    problem_id: str  # deterministic, chosen by the caller (e.g. indicator_problem_id)
    problem: ProblemIn
    created_by: str  # who flags: an account id, or the calling workflow's id
    # A calling workflow's clock and timezone: the problem opens then, its default due date
    # counts from that calendar day. Default: now, in the configured timezone.
    at: datetime | None = None
    timezone: str | None = None
    policy: ReminderPolicy | None = None  # the cycle's reminder policy; default the system's
    # A finding that needs no confirmation opens assigned to this person: an evaluation's weak
    # aspect goes to the subject's head. None: identified, for a committee to confirm.
    owner_person_id: str | None = None


class FlagProblemResult(BaseModel):
    problem_id: str
    state: str | None  # None: the rectification had finished long ago (see the read model)


class RecheckRequest(BaseModel):
    problem_id: str
    title: str
    org_path: str
    verifier_person_id: str | None
    recheck_due: date
    fired_at: datetime
