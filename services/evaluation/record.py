"""A head's record over the years: the published evaluations of the orgs they headed (final,
grade, rank among the subjects of the same level) and their accountability records — the basis
for appointment decisions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from services.deadlines.accountability import Accountability
from services.evaluation.models import Evaluation, EvaluationResult, EvaluationSubject


class EvaluationEntry(BaseModel):
    evaluation_id: str
    cycle_id: str
    kind: str
    title: str
    org_id: str
    org_name: str
    level: int
    final: float | None
    grade: str | None
    rank: int | None
    of: int  # subjects at that level
    published_at: datetime


class AccountabilityEntry(BaseModel):
    id: int
    kind: str
    org_id: str
    reason: str
    outcome: str
    appeal: str | None  # pending or upheld (an overturned record leaves the record)
    entity_type: str
    entity_id: str
    created_at: datetime


class PersonRecord(BaseModel):
    person_id: str
    evaluations: list[EvaluationEntry]
    accountability: list[AccountabilityEntry]


def person_record(session: Session, person_id: str) -> PersonRecord:
    rows = session.exec(
        select(Evaluation, EvaluationSubject, EvaluationResult)
        .join(EvaluationSubject, col(EvaluationSubject.evaluation_id) == col(Evaluation.id))
        .join(
            EvaluationResult,
            (col(EvaluationResult.evaluation_id) == col(Evaluation.id))
            & (col(EvaluationResult.org_id) == col(EvaluationSubject.org_id)),
        )
        .where(
            EvaluationSubject.head_person_id == person_id,
            col(Evaluation.published_at).is_not(None),
        )
        .order_by(col(Evaluation.published_at).desc())
    ).all()
    entries = []
    for e, s, r in rows:
        peers = session.exec(
            select(EvaluationResult.id).where(
                EvaluationResult.evaluation_id == e.id, EvaluationResult.level == r.level
            )
        ).all()
        assert e.published_at is not None
        entries.append(
            EvaluationEntry(
                evaluation_id=e.id,
                cycle_id=e.cycle_id,
                kind=e.kind,
                title=e.title,
                org_id=s.org_id,
                org_name=s.org_name,
                level=r.level,
                final=r.final,
                grade=r.grade,
                rank=r.rank,
                of=len(peers),
                published_at=e.published_at,
            )
        )
    return PersonRecord(
        person_id=person_id,
        evaluations=entries,
        accountability=accountability_of(session, person_id),
    )


def accountability_of(session: Session, person_id: str) -> list[AccountabilityEntry]:
    """The person's accountability records, newest first; one overturned on appeal is not part
    of their record (it stays in the ledger and the audit trail, marked)."""
    rows = session.exec(
        select(Accountability)
        .where(Accountability.person_id == person_id)
        .order_by(col(Accountability.created_at).desc())
    ).all()
    return [
        AccountabilityEntry(
            id=a.id or 0,
            kind=a.kind,
            org_id=a.org_id,
            reason=a.reason,
            outcome=a.outcome,
            appeal=a.appeal.get("state") if a.appeal else None,
            entity_type=a.entity_type,
            entity_id=a.entity_id,
            created_at=a.created_at,
        )
        for a in rows
        if not a.overturned
    ]
