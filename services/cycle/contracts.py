"""The annual cycle's documents as its workflows hold them: letters, items, commitments.

Table-free pydantic (workflow code imports this module). ``CycleOrgWorkflow`` owns one org's
``LetterSnapshot`` (with its items) and commitments; activities persist each change to the read
model (``services.cycles``). Ids are business keys, so retries and replays name the same rows:
cycle ``{root}-{year}``, letter ``{cycle}:{org}``, item ``{cycle}:{org}:{seq}``."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.cycle.plan import Aspect, Calendar, Indicator, ItemTemplate, Plan, Responsibility
from services.deadlines.contracts import DeadlineState, ReminderPolicy

PAGE_OF_CHILDREN = 500  # never more than this many child letters issued by one activity call

# Workflow, Update and activity names: the contract between the org workflow and its callers.
WORKFLOW = "CycleOrgWorkflow"  # id ``cycle:{cycle_id}:org:{org_id}``
ANNUAL_WORKFLOW = "AnnualCycleWorkflow"  # started by the yearly Schedule
ISSUED_UPDATE = "issued_view"
SIGN_UPDATE = "sign"
RETURN_UPDATE = "return_letter"
AMEND_UPDATE = "amend"
PROGRESS_UPDATE = "report_progress"
COMMIT_UPDATE = "submit_commitment"
DECIDE_UPDATE = "decide_commitment"
CONFIRM_UPDATE = "confirm_achievement"
ACKNOWLEDGE_UPDATE = "acknowledge"  # a new head acknowledges a letter signed by the former one
PARTIES_UPDATE = "parties_changed"  # the org's head or its parent's changed: read them again
READ_PARTIES_ACTIVITY = "read_letter_parties"
RECORD_LAUNCH_ACTIVITY = "record_launch"
ISSUE_LETTER_ACTIVITY = "issue_letter"
PERSIST_LETTER_ACTIVITY = "persist_letter"
PERSIST_COMMITMENT_ACTIVITY = "persist_commitment"
ISSUE_CHILDREN_ACTIVITY = "issue_child_letters"
LAUNCH_ACTIVITY = "launch_cycle"


class LetterState(StrEnum):
    issued = "issued"  # waiting for the org head's signature (first or renewed)
    signed = "signed"
    returned = "returned"  # the head asked the issuer for a revision


class ItemState(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    achieved = "achieved"
    missed = "missed"


DECIDED_ITEM_STATES = frozenset({ItemState.achieved, ItemState.missed})


class Confirmation(StrEnum):
    """The issuer's word on an item reported as reaching its target: only a confirmed
    achievement counts in an evaluation's ledger part."""

    confirmed = "confirmed"
    rejected = "rejected"  # until the next report, which asks again


class CommitmentState(StrEnum):
    submitted = "submitted"
    approved = "approved"  # published on the public board
    returned = "returned"


def cycle_id_for(root_org_id: str, year: int) -> str:
    return f"{root_org_id}-{year}"


def letter_id_for(cycle_id: str, org_id: str) -> str:
    return f"{cycle_id}:{org_id}"


def item_id_for(cycle_id: str, org_id: str, seq: int) -> str:
    return f"{cycle_id}:{org_id}:{seq}"


def org_workflow_id(cycle_id: str, org_id: str) -> str:
    return f"cycle:{cycle_id}:org:{org_id}"


class ItemSnapshot(BaseModel):
    id: str
    seq: int
    category: Aspect
    responsibility: Responsibility
    title: str
    indicator: Indicator
    due: date
    # The person answerable for it; None for a collective item (the org answers as a body).
    assignee_person_id: str | None
    state: ItemState = ItemState.pending
    actual: float | None = None
    note: str = ""
    evidence: list[str] = Field(default_factory=list)
    decided_at: datetime | None = None
    confirmation: Confirmation | None = None
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    confirmation_reason: str = ""

    def content(self) -> dict[str, Any]:
        """What the signer agrees to (not the progress made since). ``evidence_required``
        joins the signed text only when set, so letters signed before it existed keep their
        hash."""
        indicator = self.indicator.model_dump(mode="json")
        if not indicator["evidence_required"]:
            del indicator["evidence_required"]
        return {
            "id": self.id,
            "category": self.category.value,
            "responsibility": self.responsibility.value,
            "title": self.title,
            "indicator": indicator,
            "due": self.due.isoformat(),
            "assignee_person_id": self.assignee_person_id,
        }

    def reached(self) -> bool:
        return self.actual is not None and self.actual >= self.indicator.target


class LetterSnapshot(BaseModel):
    """One org's responsibility letter and its items, as its workflow holds them."""

    letter_id: str
    cycle_id: str
    org_id: str
    org_name: str
    org_path: str
    level: int  # 0 = the cycle's root
    parent_org_id: str | None
    head_person_id: str | None
    # Who issues and amends it: the parent org's head; None for the root (its committee).
    issuer_person_id: str | None
    version: int
    content_hash: str
    state: LetterState
    items: list[ItemSnapshot]
    signed_version: int | None = None  # the last version signed
    signed_by: str | None = None
    signed_at: datetime | None = None
    return_reason: str | None = None
    # A head who took over after the signature acknowledges the signed letter (same hash).
    handover_to: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    issued_at: datetime
    closed_at: datetime | None = None
    summary: dict[str, Any] | None = None

    def item(self, item_id: str) -> ItemSnapshot | None:
        return next((i for i in self.items if i.id == item_id), None)

    @property
    def ever_signed(self) -> bool:
        return self.signed_version is not None


def content_hash(cycle_id: str, org_id: str, org_name: str, items: list[ItemSnapshot]) -> str:
    """sha256 of the canonical JSON of org, cycle and items: what the head signs."""
    doc = {
        "cycle_id": cycle_id,
        "org": {"id": org_id, "name": org_name},
        "items": [i.content() for i in sorted(items, key=lambda x: x.seq)],
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def item_from_template(
    t: ItemTemplate,
    cycle_id: str,
    org_id: str,
    seq: int,
    head_person_id: str | None,
    deputy_person_id: str | None = None,
) -> ItemSnapshot:
    """Assignee by responsibility: the head (primary), the org (collective), the person in
    charge (direct: the named person, else the org's deputy, else the head) or the named person
    (specific; the head when the template names nobody)."""
    if t.responsibility is Responsibility.collective:
        assignee = None
    elif t.responsibility is Responsibility.specific:
        assignee = t.assignee_person_id or head_person_id
    elif t.responsibility is Responsibility.direct:
        assignee = t.assignee_person_id or deputy_person_id or head_person_id
    else:
        assignee = head_person_id
    return ItemSnapshot(
        id=item_id_for(cycle_id, org_id, seq),
        seq=seq,
        category=t.category,
        responsibility=t.responsibility,
        title=t.title,
        indicator=t.indicator,
        due=t.due,
        assignee_person_id=assignee,
    )


class CommitmentSnapshot(BaseModel):
    commitment_id: str
    cycle_id: str
    org_id: str
    org_path: str
    person_id: str  # who pledges
    text: str
    item_ids: list[str]
    state: CommitmentState
    version: int
    return_reason: str | None = None
    submitted_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None


class CycleRecord(BaseModel):
    """A launch: what the root's workflow records before issuing the first letter."""

    cycle_id: str
    root_org_id: str
    year: int
    title: str
    plan: Plan
    launched_by: str
    launched_at: datetime


class Actor(BaseModel):
    account_id: str
    person_id: str | None
    # The API vouches for it: a committee/admin account whose scope covers the cycle's root
    # (the issuer of the root's letter).
    root_committee: bool = False
    # The API vouches for it: the person belongs to the org (may speak for collective items).
    org_member: bool = False


class SignRequest(BaseModel):
    actor: Actor
    content_hash: str


class CurrentParties(BaseModel):
    """Who a letter concerns now, as the org tree says: the org's head (signs) and its parent's
    (issues)."""

    head_person_id: str | None
    issuer_person_id: str | None


class ReturnRequest(BaseModel):
    actor: Actor
    reason: str


class ItemChange(BaseModel):
    """Change an item (``id`` given) or add one (``id`` None: ``template`` is the new item)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    template: ItemTemplate


class AmendRequest(BaseModel):
    actor: Actor
    changes: list[ItemChange]
    reason: str = ""


class ProgressRequest(BaseModel):
    actor: Actor
    item_id: str
    actual: float
    note: str
    evidence: list[str]


class ConfirmRequest(BaseModel):
    actor: Actor
    item_id: str
    decision: Confirmation
    reason: str


class CommitmentRequest(BaseModel):
    actor: Actor
    commitment_id: str
    text: str
    item_ids: list[str]


class CommitmentDecision(BaseModel):
    actor: Actor
    commitment_id: str
    decision: str  # approve | return | resubmit
    reason: str = ""
    text: str | None = None  # resubmit: the revised text
    item_ids: list[str] | None = None


# Someone to tell: (person, subject, body, subject in Chinese, body in Chinese); histories
# recorded before messages carried Chinese hold the first three only.
Tell = tuple[str, str, str] | tuple[str, str, str, str, str]


class LetterChange(BaseModel):
    """One persisted change of a letter: its new snapshot and the audit event that explains it."""

    key: str  # idempotency key, computed in the workflow
    snapshot: LetterSnapshot
    action: str  # issue, sign, return, amend, progress, decide, close
    actor: str
    at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)
    # Items whose rows to write; None writes every item (issue, amend, close).
    item_ids: list[str] | None = None
    # Someone to tell (e.g. the issuer when a letter is returned).
    notify: Tell | None = None


class CommitmentChange(BaseModel):
    key: str
    snapshot: CommitmentSnapshot
    action: str  # submit, approve, return, resubmit
    actor: str
    at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)
    notify: Tell | None = None


class IssueLetterInput(BaseModel):
    cycle_id: str
    org_id: str
    at: datetime


class OrgRef(BaseModel):
    cycle_id: str
    org_id: str


class IssuedLetter(BaseModel):
    snapshot: LetterSnapshot
    calendar: Calendar
    timezone: str
    policy: ReminderPolicy


class ChildPageInput(BaseModel):
    cycle_id: str
    org_id: str
    after: str | None  # the last child issued by the previous page
    limit: int = PAGE_OF_CHILDREN


class ChildPage(BaseModel):
    started: int  # letters issued by this page (children already running are not counted)
    last: str | None
    done: bool


class CycleOrgState(BaseModel):
    """Everything the workflow carries across continue-as-new."""

    letter: LetterSnapshot
    calendar: Calendar
    timezone: str
    policy: ReminderPolicy
    events: int  # letter events persisted so far: the next key is e{events + 1}
    commitments: dict[str, CommitmentSnapshot] = Field(default_factory=dict)
    cascade_after: str | None = None
    cascade_done: bool = False
    children_issued: int = 0
    deadlines: dict[str, DeadlineState] = Field(default_factory=dict)
    flagged: list[str] = Field(default_factory=list)


class CycleOrgInput(BaseModel):
    cycle_id: str
    org_id: str
    launch: CycleRecord | None = None  # the root only: record the cycle first
    carried: CycleOrgState | None = None
    search_attributes: bool = False  # the namespace knows them (services.core.search)
