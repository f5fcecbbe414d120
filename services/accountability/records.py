"""Accountability a committee records by hand (kind, reason, outcome, the linked problem or
evaluation) and the one appeal the person concerned may make, decided by a committee in scope.

Each step is one transaction with its audit event: the row, the event and the message land
together or not at all. A retried record (same account and ``Idempotency-Key``) returns the row
first written; the same key with a different record is a conflict, never a silent answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.accounts.admin import scope_path_of
from services.accounts.models import Account, Role
from services.accounts.principal import Principal
from services.audit.chain import append_event, lock_chain
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.core.ids import keyed_id
from services.core.text import Text
from services.deadlines.accountability import Accountability, AccountabilityOut
from services.evaluation.models import Evaluation
from services.notify import texts
from services.notify.models import NotificationIn
from services.notify.store import record_notification
from services.org.contracts import ID_PATTERN
from services.org.models import Org, Person
from services.org.queries import under_path
from services.rectification.models import Problem


class ManualKind(StrEnum):
    reminder_talk = "reminder_talk"  # 提醒谈话
    written_inquiry = "written_inquiry"  # 书面函询
    public_criticism = "public_criticism"  # 通报批评
    admonishment = "admonishment"  # 诫勉
    organizational_adjustment = "organizational_adjustment"  # 组织调整
    disciplinary_referral = "disciplinary_referral"  # 移送纪检监察机关


class AppealState(StrEnum):
    pending = "pending"
    upheld = "upheld"  # the record stands
    overturned = "overturned"  # the record is withdrawn (kept, marked, out of the person's record)


class AccountabilityRecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ManualKind
    person_id: str = Field(pattern=ID_PATTERN)
    reason: Text = Field(min_length=1, max_length=4000)
    outcome: Text = Field(default="", max_length=4000)
    problem_id: str | None = Field(default=None, max_length=200)
    evaluation_id: str | None = Field(default=None, max_length=200)


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000)


class AppealDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: AppealState = Field(description="upheld or overturned")
    reason: Text = Field(min_length=1, max_length=4000)


def _person_in_scope(session: Session, principal: Principal, person_id: str) -> tuple[Person, Org]:
    """The person and the org they belong to, which must lie in the caller's scope: a committee
    never records against, or decides for, someone outside its subtree."""
    person = session.get(Person, person_id)
    org = session.get(Org, person.org_id) if person is not None and person.org_id else None
    if person is None or org is None or not principal.in_scope(org.path):
        # One answer for an unknown person and one outside the scope: nothing is told about
        # other subtrees.
        message = f"no person {person_id!r} in an org of this account's scope"
        raise Invalid(message, errors=[{"field": "person_id", "message": message}])
    return person, org


def _link(session: Session, principal: Principal, body: AccountabilityRecordIn) -> tuple[str, str]:
    if body.problem_id and body.evaluation_id:
        raise Invalid(
            "link a problem or an evaluation, not both",
            errors=[{"field": "evaluation_id", "message": "give problem_id or evaluation_id"}],
        )
    if body.problem_id:
        problem = session.get(Problem, body.problem_id)
        if problem is None or not principal.in_scope(problem.org_path):
            raise Invalid(
                f"no problem {body.problem_id!r} in scope",
                errors=[{"field": "problem_id", "message": "unknown problem"}],
            )
        return "problem", problem.id
    if body.evaluation_id:
        evaluation = session.get(Evaluation, body.evaluation_id)
        if evaluation is None or not principal.in_scope(evaluation.under_path):
            raise Invalid(
                f"no evaluation {body.evaluation_id!r}",
                errors=[{"field": "evaluation_id", "message": "unknown evaluation"}],
            )
        return "evaluation", body.evaluation_id
    return "person", body.person_id


def record_by_hand(
    session: Session,
    principal: Principal,
    body: AccountabilityRecordIn,
    idempotency_key: str | None,
    at: datetime,
) -> tuple[Accountability, bool]:
    """Write the record, its audit event and the person's notice; (row, created). The org is
    read under the chain's lock (``audit.chain.lock_chain``): filed where a move just put it."""
    principal.require_role(Role.admin, Role.committee)
    lock_chain(session)
    person, org = _person_in_scope(session, principal, body.person_id)
    entity_type, entity_id = _link(session, principal, body)
    key = keyed_id("manual", principal.account_id, idempotency_key)
    existing = session.exec(select(Accountability).where(Accountability.dedupe_key == key)).first()
    if existing is not None:
        same = (
            existing.kind,
            existing.person_id,
            existing.reason,
            existing.outcome,
            existing.entity_type,
            existing.entity_id,
        ) == (body.kind.value, body.person_id, body.reason, body.outcome, entity_type, entity_id)
        if not same:
            raise Conflict(
                "this Idempotency-Key recorded a different accountability; use a new key",
                state="recorded",
            )
        return existing, False
    row = Accountability(
        dedupe_key=key,
        kind=body.kind.value,
        org_id=org.id,
        org_path=org.path,
        person_id=person.id,
        reason=body.reason,
        entity_type=entity_type,
        entity_id=entity_id,
        recorded_by=principal.account_id,
        outcome=body.outcome,
        created_at=at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent retry with the same key won: answer its record
        won = session.exec(select(Accountability).where(Accountability.dedupe_key == key)).one()
        return won, False
    assert row.id is not None
    _event(session, row, principal, "accountability_recorded", body.model_dump(mode="json"), at)
    _tell(
        session,
        row,
        person.id,
        "accountability_recorded",
        at,
        texts.accountability_recorded(body.kind.value, body.reason, body.outcome),
    )
    return row, True


def visible_record(session: Session, principal: Principal, record_id: int) -> Accountability:
    row = session.get(Accountability, record_id)
    # Out of scope reads as absent: the answer never tells whether someone else's record exists.
    if row is None or not principal.in_scope(row.org_path):
        raise NotFound(f"no accountability record {record_id}", field="record_id")
    return row


def appeal(
    session: Session, principal: Principal, record_id: int, body: AppealIn, at: datetime
) -> Accountability:
    """The person concerned appeals, once, with a reason; whoever recorded it is told."""
    row = visible_record(session, principal, record_id)
    if principal.person_id is None or principal.person_id != row.person_id:
        raise Forbidden("only the person concerned may appeal this record")
    if row.appeal is not None:
        raise Conflict(
            f"record {record_id} was already appealed ({row.appeal['state']}); one appeal only",
            state=str(row.appeal["state"]),
        )
    row.appeal = {"reason": body.reason, "at": at.isoformat(), "state": AppealState.pending}
    session.add(row)
    _event(session, row, principal, "accountability_appealed", {"reason": body.reason}, at)
    recorder = session.get(Account, row.recorded_by) if row.recorded_by else None
    if recorder is not None and recorder.person_id:
        message = texts.accountability_appealed(row.kind, body.reason)
        _tell(session, row, recorder.person_id, "accountability_appealed", at, message)
    return row


def decide_appeal(
    session: Session, principal: Principal, record_id: int, body: AppealDecisionIn, at: datetime
) -> Accountability:
    """A committee in scope (never the appellant) upholds or overturns the appeal."""
    principal.require_role(Role.admin, Role.committee)
    row = visible_record(session, principal, record_id)
    if principal.person_id is not None and principal.person_id == row.person_id:
        raise Forbidden("the person concerned may not decide their own appeal")
    above = _decider_path(session, row)
    if not principal.in_scope(above):
        raise Forbidden(
            "an appeal is decided by the committee that recorded it or one above it, "
            "not by a committee below"
        )
    state = row.appeal["state"] if row.appeal else "none"
    if state != AppealState.pending:
        raise Conflict(f"record {record_id} has no pending appeal ({state})", state=str(state))
    if body.decision is AppealState.pending:
        raise Invalid(
            "decide upheld or overturned",
            errors=[{"field": "decision", "message": "upheld or overturned"}],
        )
    assert row.appeal is not None
    row.overturned = body.decision is AppealState.overturned
    row.appeal = {
        **row.appeal,
        "state": body.decision.value,
        "decided_by": principal.account_id,
        "decided_at": at.isoformat(),
        "decision_reason": body.reason,
    }
    session.add(row)
    payload = {"decision": body.decision.value, "reason": body.reason}
    _event(session, row, principal, "accountability_appeal_decided", payload, at)
    if row.person_id:
        message = texts.accountability_appeal_decided(row.kind, body.decision.value, body.reason)
        _tell(session, row, row.person_id, "accountability_appeal_decided", at, message)
    return row


def _decider_path(session: Session, row: Accountability) -> str:
    """The subtree whose committee (or one above) decides the appeal: the recording account's
    scope, or for a record the system made (an escalation, a poor grade) the org's parent."""
    recorder = session.get(Account, row.recorded_by) if row.recorded_by else None
    if recorder is not None:
        return scope_path_of(session, recorder)
    parent = row.org_path.rstrip("/").rsplit("/", 1)[0] + "/"
    return parent if parent != "/" else row.org_path


def _event(
    session: Session,
    row: Accountability,
    principal: Principal,
    action: str,
    payload: dict[str, Any],
    at: datetime,
) -> None:
    append_event(
        session,
        idempotency_key=f"accountability:{row.id}:{action}",
        actor=principal.account_id,
        action=action,
        entity_type="accountability",
        entity_id=str(row.id),
        payload=payload,
        at=at,
        org_path=row.org_path,
    )


def _tell(
    session: Session,
    row: Accountability,
    person_id: str,
    kind: str,
    at: datetime,
    message: texts.Message,
) -> None:
    record_notification(
        session,
        NotificationIn(
            dedupe_key=f"accountability:{row.id}:{kind}",
            recipient_person_id=person_id,
            kind=kind,
            **message.fields(),
            link="/me",
            entity_type="accountability",
            entity_id=str(row.id),
            org_path=row.org_path,
            scheduled_for=at,
            fired_at=at,
        ),
    )


def about(session: Session, person_id: str | None) -> list[Accountability]:
    """Every record about the person, newest first (overturned ones too, marked)."""
    if person_id is None:
        return []
    return list(
        session.exec(
            select(Accountability)
            .where(Accountability.person_id == person_id)
            .order_by(col(Accountability.id).desc())
        ).all()
    )


def appeals_to_decide(session: Session, principal: Principal) -> list[Accountability]:
    """Pending appeals in a committee's scope, oldest first (not the caller's own)."""
    if principal.role not in (Role.admin, Role.committee):
        return []
    rows = session.exec(
        select(Accountability)
        .where(under_path(Accountability.org_path, principal.scope_path))
        .where(col(Accountability.appeal).is_not(None))
        .order_by(col(Accountability.id))
    ).all()
    return [
        r
        for r in rows
        if r.appeal
        and r.appeal.get("state") == AppealState.pending
        and r.person_id != principal.person_id
    ]


def out(row: Accountability) -> AccountabilityOut:
    return AccountabilityOut.model_validate(row, from_attributes=True)
