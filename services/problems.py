"""Problems and their rectification: read-model tables, request/response DTOs, persistence.

The ``rect:{problem_id}`` workflow owns the state; this module persists each transition it makes
(row + audit event in one transaction, idempotent by version) and answers reads.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, select

from services.audit import AuditEventOut, append_event, entity_timeline
from services.errors import Invalid, NotFound
from services.orgs import ID_PATTERN, Org, utcnow
from services.rectification_models import ProblemSnapshot, Transition
from services.rectification_rules import (
    OPEN_STATES as _OPEN,
)
from services.rectification_rules import (
    Action,
    Flags,
    RectState,
    allowed_actions,
)
from services.settings import Settings

OPEN_STATES = frozenset(s.value for s in _OPEN)


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


class Problem(SQLModel, table=True):
    __tablename__ = "problems"
    __table_args__ = (
        Index("ix_problems_org_path_state", "org_path", "state"),
        Index("ix_problems_state_due", "state", "due"),
        Index("ix_problems_overdue", "overdue_level", "state"),
    )

    id: str = SQLField(primary_key=True, max_length=40)
    org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    org_path: str = SQLField(max_length=2000, index=True)
    cycle_id: str | None = SQLField(default=None, max_length=80, index=True)
    item_id: str | None = SQLField(default=None, max_length=200, index=True)
    source: str = SQLField(max_length=20, index=True)
    category: str = SQLField(max_length=20, index=True)
    severity: str = SQLField(max_length=10, index=True)
    severity_rank: int = 1
    title: str = SQLField(max_length=300)
    description: str = SQLField(default="", sa_column=Column(Text, nullable=False))
    state: str = SQLField(max_length=30, index=True)
    owner_person_id: str | None = SQLField(default=None, max_length=64, index=True)
    verifier_person_id: str | None = SQLField(default=None, max_length=64)
    due: date | None = SQLField(default=None, index=True)
    opened_at: datetime = SQLField(index=True)
    closed_at: datetime | None = None
    overdue_level: int = 0
    extension_pending: bool = False
    requested_due: date | None = None
    recheck_due: date | None = None
    recheck_open: bool = False
    progress_percent: int = 0
    plan: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    version: int = 0
    created_by: str = SQLField(default="", max_length=120)
    updated_at: datetime = SQLField(default_factory=utcnow)


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"

    id: str = SQLField(primary_key=True, max_length=40)
    sha256: str = SQLField(max_length=64, index=True)
    size: int
    content_type: str = SQLField(max_length=120)
    filename: str = SQLField(max_length=300)
    org_path: str = SQLField(max_length=2000)  # the uploader's scope: who may download it
    uploaded_by: str = SQLField(max_length=120)
    created_at: datetime = SQLField(default_factory=utcnow)


class PublicReport(SQLModel, table=True):
    __tablename__ = "public_reports"

    id: str = SQLField(primary_key=True, max_length=40)
    org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    org_path: str = SQLField(max_length=2000, index=True)
    text: str = SQLField(sa_column=Column(Text, nullable=False))
    client_hash: str = SQLField(max_length=64)  # a hash, never the address itself
    status: str = SQLField(default="new", max_length=20, index=True)
    problem_id: str | None = SQLField(default=None, max_length=40)
    triage_reason: str | None = None
    triaged_by: str | None = SQLField(default=None, max_length=120)
    created_at: datetime = SQLField(default_factory=utcnow)
    triaged_at: datetime | None = None


# --- requests -------------------------------------------------------------------------------


class ProblemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(pattern=ID_PATTERN)
    source: Source
    category: Category
    severity: Severity
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20000)
    cycle_id: str | None = Field(default=None, max_length=80)
    item_id: str | None = Field(default=None, max_length=200)
    due: date | None = None


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_person_id: str | None = Field(default=None, pattern=ID_PATTERN)
    comment: str = Field(default="", max_length=4000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=4000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_person_id: str = Field(pattern=ID_PATTERN)
    comment: str = Field(default="", max_length=4000)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measures: str = Field(min_length=1, max_length=20000)
    target_date: date


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=4000)


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=4000)
    percent: int = Field(ge=0, le=100)
    evidence: list[str] = Field(default_factory=list, max_length=50)


class ExtensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_due: date
    reason: str = Field(min_length=1, max_length=4000)


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(min_length=1, max_length=20000)
    evidence: list[str] = Field(min_length=1, max_length=50)


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: str = Field(pattern="^(pass|fail)$")
    comment: str = Field(default="", max_length=4000)


class RecheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    held: bool
    comment: str = Field(default="", max_length=4000)


ACTION_BODIES: dict[Action, type[BaseModel]] = {
    Action.confirm: ConfirmIn,
    Action.dismiss: ReasonIn,
    Action.assign: AssignIn,
    Action.plan: PlanIn,
    Action.approve_plan: CommentIn,
    Action.return_plan: ReasonIn,
    Action.progress: ProgressIn,
    Action.extension: ExtensionIn,
    Action.approve_extension: CommentIn,
    Action.deny_extension: ReasonIn,
    Action.completion: CompletionIn,
    Action.verify: VerifyIn,
    Action.reopen: ReasonIn,
    Action.recheck: RecheckIn,
}


class PublicReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: str = Field(pattern=ID_PATTERN)
    text: str = Field(min_length=1)


class TriageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(pattern="^(flag|dismiss)$")
    reason: str | None = Field(default=None, max_length=4000)
    category: Category | None = None
    severity: Severity | None = None
    title: str | None = Field(default=None, max_length=300)
    due: date | None = None

    @model_validator(mode="after")
    def _complete(self) -> TriageIn:
        if self.action == "dismiss" and not self.reason:
            raise ValueError("reason is required to dismiss a report")
        if self.action == "flag" and (self.category is None or self.severity is None):
            raise ValueError("category and severity are required to flag a problem")
        return self


# --- responses ------------------------------------------------------------------------------


class ProblemOut(BaseModel):
    problem_id: str
    org_id: str
    cycle_id: str | None
    item_id: str | None
    source: str
    category: str
    severity: str
    title: str
    description: str
    state: str
    owner_person_id: str | None
    verifier_person_id: str | None
    due: date | None
    opened_at: datetime
    closed_at: datetime | None
    days_open: int
    overdue_level: int
    extension_pending: bool
    requested_due: date | None
    recheck_due: date | None
    recheck_open: bool
    progress_percent: int
    plan: dict[str, Any] | None
    version: int
    allowed_actions: list[str]


def problem_out(p: Problem, now: datetime) -> ProblemOut:
    opened = p.opened_at if p.opened_at.tzinfo else p.opened_at.replace(tzinfo=now.tzinfo)
    closed = p.closed_at
    if closed is not None and closed.tzinfo is None:
        closed = closed.replace(tzinfo=now.tzinfo)
    end = closed if p.state in ("closed", "dismissed") and closed is not None else now
    flags = Flags(extension_pending=p.extension_pending, recheck_open=p.recheck_open)
    return ProblemOut(
        problem_id=p.id,
        org_id=p.org_id,
        cycle_id=p.cycle_id,
        item_id=p.item_id,
        source=p.source,
        category=p.category,
        severity=p.severity,
        title=p.title,
        description=p.description,
        state=p.state,
        owner_person_id=p.owner_person_id,
        verifier_person_id=p.verifier_person_id,
        due=p.due,
        opened_at=opened,
        closed_at=closed,
        days_open=max(0, (end - opened).days),
        overdue_level=p.overdue_level,
        extension_pending=p.extension_pending,
        requested_due=p.requested_due,
        recheck_due=p.recheck_due,
        recheck_open=p.recheck_open,
        progress_percent=p.progress_percent,
        plan=p.plan,
        version=p.version,
        allowed_actions=[a.value for a in allowed_actions(RectState(p.state), flags)],
    )


# --- intake rules ---------------------------------------------------------------------------


def today_in(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date()


def default_due(settings: Settings, severity: Severity, today: date) -> date:
    """Due date by severity when the flagger gives none (configured days from today)."""
    days = {
        Severity.critical: settings.due_days_critical,
        Severity.major: settings.due_days_major,
        Severity.minor: settings.due_days_minor,
    }[severity]
    return today + timedelta(days=days)


def new_snapshot(
    settings: Settings,
    org: Org,
    body: ProblemIn,
    problem_id: str,
    created_by: str,
    now: datetime,
    today: date | None = None,
) -> ProblemSnapshot:
    """The not-yet-recorded problem handed to its workflow (version 0: the workflow records it).

    ``today`` is the flagger's calendar day (a workflow passes its own clock's), default the
    configured timezone's today.
    """
    today = today or today_in(settings)
    if body.due is not None and body.due < today:
        raise Invalid(
            "due is in the past", errors=[{"field": "due", "message": "must not be in the past"}]
        )
    return ProblemSnapshot(
        problem_id=problem_id,
        org_id=org.id,
        org_path=org.path,
        cycle_id=body.cycle_id,
        item_id=body.item_id,
        source=body.source.value,
        category=body.category.value,
        severity=body.severity.value,
        title=body.title,
        description=body.description,
        state=RectState.identified,
        owner_person_id=None,
        verifier_person_id=None,
        due=body.due or default_due(settings, body.severity, today),
        opened_at=now,
        closed_at=None,
        extension_pending=False,
        requested_due=None,
        recheck_due=None,
        recheck_open=False,
        progress_percent=0,
        plan=None,
        version=0,
        created_by=created_by,
    )


# --- ids ------------------------------------------------------------------------------------


def new_problem_id(account_id: str, idempotency_key: str | None) -> str:
    """Random, or derived from (account, Idempotency-Key) so a retried request maps to one id."""
    if idempotency_key:
        digest = hashlib.sha256(f"{account_id}\0{idempotency_key}".encode()).hexdigest()
        return "P-" + digest[:12].upper()
    return "P-" + secrets.token_hex(6).upper()


def get_problem(session: Session, problem_id: str) -> Problem:
    p = session.get(Problem, problem_id)
    if p is None:
        raise NotFound(f"problem {problem_id!r} does not exist", field="problem_id")
    return p


def timeline(session: Session, problem_id: str) -> list[AuditEventOut]:
    return entity_timeline(session, "problem", problem_id)


# --- persistence of transitions (called by activities) --------------------------------------


def persist_transition(session: Session, t: Transition) -> bool:
    """Write the snapshot and its audit event in the caller's transaction; False if already done."""
    s = t.snapshot
    key = f"rect:{s.problem_id}:v{s.version}"
    payload = {
        **t.payload,
        "state": s.state.value,
        "due": s.due.isoformat() if s.due else None,
        "owner": s.owner_person_id,
        "extension_pending": s.extension_pending,
    }
    _, created = append_event(
        session,
        idempotency_key=key,
        actor=t.actor,
        action=t.action,
        entity_type="problem",
        entity_id=s.problem_id,
        payload=payload,
        at=t.at,
        org_path=s.org_path,
    )
    if not created:
        return False
    row = session.get(Problem, s.problem_id)
    values = s.model_dump(exclude={"problem_id", "overdue_level"})
    values["state"] = s.state.value
    values["severity_rank"] = SEVERITY_RANK.get(Severity(s.severity), 1)
    values["updated_at"] = t.at
    if row is None:
        row = Problem(id=s.problem_id, overdue_level=s.overdue_level or 0, **values)
    else:
        for k, v in values.items():
            setattr(row, k, v)
        if s.overdue_level is not None:
            row.overdue_level = s.overdue_level
    session.add(row)
    session.flush()
    return True


def evidence_errors(session: Session, ids: list[str], org_path: str) -> list[dict[str, str]]:
    """Errors naming ``evidence.{i}`` for unknown ids or evidence uploaded outside the org's line
    (evidence is shared up and down one branch of the tree, never across)."""
    from sqlmodel import col

    rows = {e.id: e for e in session.exec(select(Evidence).where(col(Evidence.id).in_(ids))).all()}
    errors: list[dict[str, str]] = []
    for i, eid in enumerate(ids):
        e = rows.get(eid)
        if e is None:
            errors.append({"field": f"evidence.{i}", "message": f"unknown evidence {eid!r}"})
        elif not (e.org_path.startswith(org_path) or org_path.startswith(e.org_path)):
            errors.append(
                {"field": f"evidence.{i}", "message": f"evidence {eid!r} belongs elsewhere"}
            )
    return errors


def existing_problem_ids(session: Session, ids: list[str]) -> set[str]:
    from sqlmodel import col

    return set(session.exec(select(Problem.id).where(col(Problem.id).in_(ids))).all())
