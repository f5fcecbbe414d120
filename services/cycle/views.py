"""How the API shows the cycle's rows: letters with their items, items, commitments, and the
public board's entries (no e-mail, no ids of people).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from services.cycle.contracts import (
    letter_id_for,
)
from services.cycle.models import Commitment, Item, Letter
from services.cycle.plan import Indicator


def indicator_of(i: Item) -> Indicator:
    return Indicator(
        metric=i.metric,
        target=i.target,
        unit=i.unit,
        standard=i.standard,
        evidence_required=i.evidence_required,
    )


class ItemOut(BaseModel):
    item_id: str
    letter_id: str
    cycle_id: str
    org_id: str
    seq: int
    category: str
    responsibility: str
    title: str
    indicator: Indicator
    due: date
    assignee_person_id: str | None
    state: str
    actual: float | None
    note: str
    evidence: list[str]
    decided_at: datetime | None
    confirmation: str | None  # the issuer's word on a reported achievement
    confirmed_by: str | None
    confirmed_at: datetime | None
    confirmation_reason: str

    @classmethod
    def of(cls, i: Item) -> ItemOut:
        return cls(
            item_id=i.id,
            letter_id=i.letter_id,
            cycle_id=i.cycle_id,
            org_id=i.org_id,
            seq=i.seq,
            category=i.category,
            responsibility=i.responsibility,
            title=i.title,
            indicator=indicator_of(i),
            due=i.due,
            assignee_person_id=i.assignee_person_id,
            state=i.state,
            actual=i.actual,
            note=i.note,
            evidence=list(i.evidence),
            decided_at=i.decided_at,
            confirmation=i.confirmation,
            confirmed_by=i.confirmed_by,
            confirmed_at=i.confirmed_at,
            confirmation_reason=i.confirmation_reason,
        )


class LetterOut(BaseModel):
    letter_id: str
    cycle_id: str
    org_id: str
    org_name: str
    level: int
    parent_org_id: str | None
    head_person_id: str | None
    issuer_person_id: str | None
    version: int
    content_hash: str
    state: str
    signed_version: int | None
    signed_by: str | None
    signed_at: datetime | None
    return_reason: str | None
    handover_to: str | None = None  # a new head who still owes the signed letter's acknowledgement
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    issued_at: datetime
    closed_at: datetime | None
    overdue_level: int
    items_count: int
    summary: dict[str, Any] | None
    items: list[ItemOut] | None = None  # in the one-letter view

    @classmethod
    def of(cls, row: Letter, items: list[Item] | None = None) -> LetterOut:
        fields = {k: getattr(row, k) for k in cls.model_fields if k not in ("letter_id", "items")}
        return cls(
            letter_id=row.id,
            items=[ItemOut.of(i) for i in items] if items is not None else None,
            **fields,
        )


class CommitmentOut(BaseModel):
    commitment_id: str
    cycle_id: str
    org_id: str
    person_id: str
    text: str
    item_ids: list[str]
    state: str
    version: int
    return_reason: str | None
    submitted_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, c: Commitment) -> CommitmentOut:
        return cls(
            commitment_id=c.id,
            cycle_id=c.cycle_id,
            org_id=c.org_id,
            person_id=c.person_id,
            text=c.text,
            item_ids=list(c.item_ids),
            state=c.state,
            version=c.version,
            return_reason=c.return_reason,
            submitted_at=c.submitted_at,
            decided_at=c.decided_at,
        )


class PublicCommitment(BaseModel):
    """What the public board shows: the pledge and whose it is, no contact or account data."""

    commitment_id: str
    cycle_id: str
    org_id: str
    org_name: str
    person_name: str
    person_title: str
    text: str
    items: list[str]  # item titles
    published_at: datetime | None


def get_letter(session: Session, cycle_id: str, org_id: str) -> Letter | None:
    return session.get(Letter, letter_id_for(cycle_id, org_id))


def letter_items(session: Session, letter_id: str) -> list[Item]:
    return list(
        session.exec(select(Item).where(Item.letter_id == letter_id).order_by(col(Item.seq))).all()
    )
