"""What each step of an org's year does to its letter and commitments: pure, so the org workflow
stays small and every step can be tested without a server.

Each function takes the current snapshot and an already checked request (``services.cycle.rules``)
and returns a ``LetterStep`` or ``CommitmentStep``: the new snapshot, the audit event's action and
payload, and the message to send, if any. The workflow persists the step and steers its deadlines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.core.clock import deadline_instant
from services.core.text import as_line, as_text
from services.cycle.contracts import (
    DECIDED_ITEM_STATES,
    AmendRequest,
    CommitmentDecision,
    CommitmentRequest,
    CommitmentSnapshot,
    CommitmentState,
    Confirmation,
    ConfirmRequest,
    CycleOrgState,
    ItemSnapshot,
    ItemState,
    LetterSnapshot,
    LetterState,
    ProgressRequest,
    Tell,
    content_hash,
    item_from_template,
)
from services.cycle.plan import Responsibility
from services.cycle.rules import answerable
from services.notify import texts
from services.rectification.contracts import (
    Category,
    FlagProblemInput,
    ProblemIn,
    Severity,
    Source,
    indicator_problem_id,
)

SYSTEM = "system:cycle"
UNCONFIRMED: dict[str, Any] = {
    "confirmation": None,
    "confirmed_by": None,
    "confirmed_at": None,
    "confirmation_reason": "",
}


class LetterStep(BaseModel):
    new: LetterSnapshot
    action: str  # the audit event's action
    payload: dict[str, Any] = Field(default_factory=dict)
    item_ids: list[str] | None = None  # item rows to write; None: every item
    tell: Tell | None = None


class CommitmentStep(BaseModel):
    new: CommitmentSnapshot
    action: str
    payload: dict[str, Any] = Field(default_factory=dict)
    tell: Tell | None = None


def _to(person: str | None, message: texts.Message) -> Tell | None:
    return (person, *message) if person else None


def signed(letter: LetterSnapshot, person_id: str | None, now: datetime) -> LetterStep:
    new = letter.model_copy(
        update={
            "state": LetterState.signed,
            "signed_version": letter.version,
            "signed_by": person_id,
            "signed_at": now,
            "return_reason": None,
            "handover_to": None,  # signing a version owes no acknowledgement of it
        }
    )
    return LetterStep(new=new, action="sign", payload={"signer": person_id}, item_ids=[])


def returned(letter: LetterSnapshot, reason: str) -> LetterStep:
    new = letter.model_copy(update={"state": LetterState.returned, "return_reason": reason})
    tell = _to(
        letter.issuer_person_id, texts.letter_returned(letter.org_name, letter.version, reason)
    )
    return LetterStep(new=new, action="return", payload={"reason": reason}, item_ids=[], tell=tell)


def _amended_items(
    letter: LetterSnapshot, req: AmendRequest, named_direct: bool
) -> tuple[list[ItemSnapshot], list[str]]:
    """Items after the changes (changed in place, new ones appended), and the ids touched.
    ``named_direct``: a direct item goes to the person it names (before, to the head: kept for
    amendments replayed from histories recorded then)."""
    items = list(letter.items)
    next_seq = max((i.seq for i in items), default=0) + 1
    touched: list[str] = []
    for ch in req.changes:
        template = ch.template
        if not named_direct and template.responsibility is Responsibility.direct:
            template = template.model_copy(update={"assignee_person_id": None})
        fresh = item_from_template(
            template, letter.cycle_id, letter.org_id, next_seq, letter.head_person_id
        )
        if ch.id is None:
            items.append(fresh)
            touched.append(fresh.id)
            next_seq += 1
            continue
        idx = next(k for k, i in enumerate(items) if i.id == ch.id)
        items[idx] = items[idx].model_copy(
            update={
                "category": fresh.category,
                "responsibility": fresh.responsibility,
                "title": fresh.title,
                "indicator": fresh.indicator,
                "due": fresh.due,
                "assignee_person_id": fresh.assignee_person_id,
                **UNCONFIRMED,  # a changed item's achievement is confirmed anew
            }
        )
        touched.append(ch.id)
    return items, touched


def amended(letter: LetterSnapshot, req: AmendRequest, named_direct: bool = True) -> LetterStep:
    """A new version with the changed and added items, to be signed again."""
    items, touched = _amended_items(letter, req, named_direct)
    new = letter.model_copy(
        update={
            "items": items,
            "version": letter.version + 1,
            "content_hash": content_hash(letter.cycle_id, letter.org_id, letter.org_name, items),
            "state": LetterState.issued,
            "return_reason": None,
            "handover_to": None,  # the new version is signed, not acknowledged
        }
    )
    message = texts.letter_amended(letter.org_name, new.version, len(touched), req.reason)
    payload = {"items": touched, "reason": req.reason, "was": letter.state.value}
    return LetterStep(
        new=new, action="amend", payload=payload, tell=_to(letter.head_person_id, message)
    )


def _with_item(letter: LetterSnapshot, updated: ItemSnapshot) -> LetterSnapshot:
    return letter.model_copy(
        update={"items": [updated if i.id == updated.id else i for i in letter.items]}
    )


def progressed(letter: LetterSnapshot, item: ItemSnapshot, req: ProgressRequest) -> LetterStep:
    """A new figure; reaching the target asks the issuer to confirm (again, if rejected)."""
    updated = item.model_copy(
        update={
            "state": ItemState.in_progress,
            "actual": req.actual,
            "note": req.note,
            "evidence": [*item.evidence, *(e for e in req.evidence if e not in item.evidence)],
        }
    )
    tell = None
    if item.confirmation is not Confirmation.confirmed:
        updated = updated.model_copy(update=UNCONFIRMED)  # a rejection holds until now
    if updated.reached() and updated.confirmation is None:
        message = texts.achievement_to_confirm(
            letter.org_name, item.title, req.actual, item.indicator.unit
        )
        tell = _to(letter.issuer_person_id, message)
    payload = {"item_id": item.id, "actual": req.actual, "evidence": req.evidence}
    return LetterStep(
        new=_with_item(letter, updated),
        action="progress",
        payload=payload,
        item_ids=[item.id],
        tell=tell,
    )


def confirmed(
    letter: LetterSnapshot, item: ItemSnapshot, req: ConfirmRequest, now: datetime
) -> LetterStep:
    """The issuer's word on the achievement; a rejection tells whoever reported it."""
    reason = req.reason.strip()
    updated = item.model_copy(
        update={
            "confirmation": req.decision,
            "confirmed_by": req.actor.person_id or req.actor.account_id,
            "confirmed_at": now,
            "confirmation_reason": reason,
        }
    )
    tell = None
    if req.decision is Confirmation.rejected:
        reporter = answerable(letter, item)
        open_ = item.state not in DECIDED_ITEM_STATES
        tell = _to(reporter, texts.achievement_rejected(item.title, reason, open_))
    payload = {"item_id": item.id, "decision": req.decision.value, "reason": reason}
    return LetterStep(
        new=_with_item(letter, updated),
        action=f"achievement_{req.decision.value}",
        payload=payload,
        item_ids=[item.id],
        tell=tell,
    )


def _decided(i: ItemSnapshot, now: datetime) -> ItemSnapshot:
    """Achieved when the actual reached the target, else missed."""
    state = ItemState.achieved if i.reached() else ItemState.missed
    return i.model_copy(update={"state": state, "decided_at": now})


def due_items_decided(letter: LetterSnapshot, timezone: str, now: datetime) -> LetterStep | None:
    """Decide every open item whose due day has ended; None when none has."""
    decided: list[str] = []
    items: list[ItemSnapshot] = []
    for i in letter.items:
        if i.state not in DECIDED_ITEM_STATES and deadline_instant(i.due, timezone) <= now:
            items.append(_decided(i, now))
            decided.append(i.id)
        else:
            items.append(i)
    if not decided:
        return None
    by_id = {i.id: i for i in items}
    payload = {
        "achieved": [x for x in decided if by_id[x].state is ItemState.achieved],
        "missed": [x for x in decided if by_id[x].state is ItemState.missed],
    }
    new = letter.model_copy(update={"items": items})
    return LetterStep(new=new, action="decide", payload=payload, item_ids=decided)


def year_closed(st: CycleOrgState, now: datetime) -> LetterStep:
    """Open items are decided, the year's summary is written on the letter."""
    items = [i if i.state in DECIDED_ITEM_STATES else _decided(i, now) for i in st.letter.items]
    counts: dict[str, int] = {}
    for i in items:
        counts[i.state.value] = counts.get(i.state.value, 0) + 1
    commitments: dict[str, int] = {}
    for c in st.commitments.values():
        commitments[c.state.value] = commitments.get(c.state.value, 0) + 1
    summary = {
        "letter_state": st.letter.state.value,
        "letter_version": st.letter.version,
        "signed_version": st.letter.signed_version,
        "items": counts,
        "commitments": commitments,
        "children_issued": st.children_issued,
        "closed_on": st.calendar.closes_on.isoformat(),
    }
    new = st.letter.model_copy(update={"items": items, "closed_at": now, "summary": summary})
    return LetterStep(new=new, action="close", payload={"summary": summary})


def submitted(letter: LetterSnapshot, req: CommitmentRequest, now: datetime) -> CommitmentStep:
    assert req.actor.person_id is not None  # the rules let only people pledge
    new = CommitmentSnapshot(
        commitment_id=req.commitment_id,
        cycle_id=letter.cycle_id,
        org_id=letter.org_id,
        org_path=letter.org_path,
        person_id=req.actor.person_id,
        text=req.text,
        item_ids=req.item_ids,
        state=CommitmentState.submitted,
        version=1,
        submitted_at=now,
    )
    message = texts.commitment_to_review(letter.org_name, req.text)
    return CommitmentStep(
        new=new,
        action="submit",
        payload={"items": req.item_ids},
        tell=_to(letter.issuer_person_id, message),
    )


def decided(
    letter: LetterSnapshot, c: CommitmentSnapshot, req: CommitmentDecision, now: datetime
) -> CommitmentStep:
    """Approved (published), returned with a reason, or resubmitted by its author."""
    upd: dict[str, Any] = {"version": c.version + 1}
    tell: Tell | None
    if req.decision == "approve":
        upd.update(state=CommitmentState.approved, decided_at=now, decided_by=req.actor.account_id)
        tell = _to(c.person_id, texts.commitment_approved(c.text))
    elif req.decision == "return":
        upd.update(
            state=CommitmentState.returned,
            decided_at=now,
            decided_by=req.actor.account_id,
            return_reason=req.reason,
        )
        tell = _to(c.person_id, texts.commitment_returned(req.reason or ""))
    else:
        upd.update(
            state=CommitmentState.submitted,
            submitted_at=now,
            return_reason=None,
            decided_at=None,
            decided_by=None,
        )
        if req.text is not None:
            upd["text"] = req.text
        if req.item_ids is not None:
            upd["item_ids"] = req.item_ids
        tell = _to(letter.issuer_person_id, texts.commitment_resubmitted(req.text or c.text))
    payload = {"reason": req.reason} if req.reason else {}
    return CommitmentStep(
        new=c.model_copy(update=upd), action=req.decision, payload=payload, tell=tell
    )


def missed_item_problem(
    st: CycleOrgState, i: ItemSnapshot, flagged_by: str, now: datetime
) -> FlagProblemInput:
    """The problem a missed item flags (source ``indicator``): one per item, by its id."""
    actual = i.actual if i.actual is not None else 0
    return FlagProblemInput(
        problem_id=indicator_problem_id(i.id),
        problem=ProblemIn(
            org_id=st.letter.org_id,
            source=Source.indicator,
            category=Category(i.category.value),
            severity=Severity.major,
            title=as_line(f"Missed: {i.title}")[:300],
            description=as_text(
                f"{i.indicator.metric}: {actual:g} of {i.indicator.target:g} {i.indicator.unit} "
                f"by {i.due.isoformat()} ({i.indicator.standard})."
            ),
            cycle_id=st.letter.cycle_id,
            item_id=i.id,
        ),
        created_by=flagged_by,
        at=now,
        timezone=st.timezone,
        policy=st.policy,
    )
