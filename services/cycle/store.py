"""Writes of the annual cycle: recording a launch, building and persisting letters and their
items, persisting commitments; and the launch's plan checks (overdue levels: ``overdue``).

Each write is row(s) + one audit event in one transaction, idempotent by a key the workflow
computes, so a retried activity or a replayed workflow writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert
from sqlmodel import Session, col, select

from services.audit.chain import append_event
from services.core.errors import Invalid, absent
from services.core.text import Line
from services.cycle.carryover import carry_open_rectifications
from services.cycle.contracts import (
    CommitmentChange,
    CurrentParties,
    CycleRecord,
    ItemSnapshot,
    LetterChange,
    LetterSnapshot,
    LetterState,
    content_hash,
    cycle_id_for,
    item_from_template,
    letter_id_for,
)
from services.cycle.models import Commitment, Cycle, Item, Letter
from services.cycle.plan import Plan, plan_errors, validate_against_tree
from services.cycle.views import indicator_of
from services.org.contracts import ID_PATTERN
from services.org.models import Org
from services.org.queries import get_org, under_path


class CycleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_org_id: str = Field(pattern=ID_PATTERN)
    year: int = Field(ge=2000, le=2200)
    title: Line = Field(min_length=1, max_length=300)
    plan: dict[str, Any]


def checked_plan(session: Session, body: CycleIn) -> tuple[Org, Plan]:
    """The root org and the parsed plan, or 404/422 naming what is wrong (``plan.…`` fields)."""
    root = get_org(session, body.root_org_id)
    errors = plan_errors(body.plan)
    if errors:
        raise Invalid("the plan is not valid", errors=errors)
    plan = Plan.model_validate(body.plan)
    kinds = set(session.exec(select(Org.kind).where(under_path(Org.path, root.path))).all())
    extra = list(plan.extra_items)
    found = set(
        session.exec(
            select(Org.id).where(col(Org.id).in_(extra), under_path(Org.path, root.path))
        ).all()
    )
    errors = validate_against_tree(plan, kinds, found)
    if errors:
        raise Invalid("the plan does not fit the org tree", errors=errors)
    return root, plan


def record_cycle(session: Session, rec: CycleRecord) -> bool:
    """Write the cycle row and its audit event once, and carry the root's open rectifications
    of earlier years into it; False when already there."""
    if session.get(Cycle, rec.cycle_id) is not None:
        return False
    root = get_org(session, rec.root_org_id)
    cycle = Cycle(
        id=rec.cycle_id,
        root_org_id=root.id,
        root_path=root.path,
        year=rec.year,
        title=rec.title,
        plan=rec.plan.model_dump(mode="json"),
        timezone=rec.plan.timezone,
        launched_by=rec.launched_by,
        launched_at=rec.launched_at,
    )
    session.add(cycle)
    session.flush()
    append_event(
        session,
        idempotency_key=f"cycle:{rec.cycle_id}:launch",
        actor=rec.launched_by,
        action="launch",
        entity_type="cycle",
        entity_id=rec.cycle_id,
        payload={"root_org_id": root.id, "year": rec.year, "title": rec.title},
        at=rec.launched_at,
        org_path=root.path,
    )
    carry_open_rectifications(session, cycle, rec.launched_at)
    return True


def get_cycle(session: Session, cycle_id: str) -> Cycle:
    c = session.get(Cycle, cycle_id)
    if c is None:
        raise absent(f"cycle {cycle_id!r}", "cycle_id")
    return c


def find_cycle(session: Session, root_org_id: str, year: int) -> Cycle | None:
    return session.get(Cycle, cycle_id_for(root_org_id, year))


def build_letter(session: Session, cycle: Cycle, org: Org, at: datetime) -> LetterSnapshot:
    """Version 1 of ``org``'s letter from the cycle's plan: its kind's items, then its extras."""
    plan = Plan.model_validate(cycle.plan)
    templates = [*plan.templates.get(org.kind, []), *plan.extra_items.get(org.id, [])]
    items = [
        item_from_template(t, cycle.id, org.id, seq, org.head_person_id, org.deputy_person_id)
        for seq, t in enumerate(templates, start=1)
    ]
    root = get_org(session, cycle.root_org_id)
    parent = _parent_in_cycle(session, root, org)
    return LetterSnapshot(
        letter_id=letter_id_for(cycle.id, org.id),
        cycle_id=cycle.id,
        org_id=org.id,
        org_name=org.name,
        org_path=org.path,
        level=org.depth - root.depth,
        parent_org_id=parent.id if parent else None,
        head_person_id=org.head_person_id,
        issuer_person_id=parent.head_person_id if parent else None,
        version=1,
        content_hash=content_hash(cycle.id, org.id, org.name, items),
        state=LetterState.issued,
        items=items,
        issued_at=at,
    )


def _parent_in_cycle(session: Session, root: Org, org: Org) -> Org | None:
    """The org whose head issues ``org``'s letter; None for the root (its committee does).
    Read under a row lock, as the org is: a head change waits for a letter being issued, so
    it finds that letter to tell (``services.changes.orgs``)."""
    if org.parent_id is None or org.id == root.id:
        return None
    return session.get(Org, org.parent_id, with_for_update={"read": True})  # siblings share it


def current_parties(session: Session, cycle_id: str, org_id: str) -> CurrentParties:
    """Who the org tree says signs and issues the org's letter now."""
    cycle = get_cycle(session, cycle_id)
    org = get_org(session, org_id)
    parent = _parent_in_cycle(session, get_org(session, cycle.root_org_id), org)
    return CurrentParties(
        head_person_id=org.head_person_id,
        issuer_person_id=parent.head_person_id if parent else None,
    )


def _item_row(s: LetterSnapshot, i: ItemSnapshot, at: datetime) -> dict[str, Any]:
    return {
        "cycle_id": s.cycle_id,
        "org_id": s.org_id,
        "org_path": s.org_path,
        "letter_id": s.letter_id,
        "seq": i.seq,
        "category": i.category.value,
        "responsibility": i.responsibility.value,
        "title": i.title,
        "metric": i.indicator.metric,
        "target": i.indicator.target,
        "unit": i.indicator.unit,
        "standard": i.indicator.standard,
        "evidence_required": i.indicator.evidence_required,
        "due": i.due,
        "assignee_person_id": i.assignee_person_id,
        "state": i.state.value,
        "actual": i.actual,
        "note": i.note,
        "evidence": list(i.evidence),
        "decided_at": i.decided_at,
        "confirmation": i.confirmation.value if i.confirmation else None,
        "confirmed_by": i.confirmed_by,
        "confirmed_at": i.confirmed_at,
        "confirmation_reason": i.confirmation_reason,
        "updated_at": at,
    }


def _letter_row(s: LetterSnapshot, at: datetime) -> dict[str, Any]:
    return {
        "cycle_id": s.cycle_id,
        "org_id": s.org_id,
        "org_name": s.org_name,
        "org_path": s.org_path,
        "level": s.level,
        "parent_org_id": s.parent_org_id,
        "head_person_id": s.head_person_id,
        "issuer_person_id": s.issuer_person_id,
        "version": s.version,
        "content_hash": s.content_hash,
        "state": s.state.value,
        "signed_version": s.signed_version,
        "signed_by": s.signed_by,
        "signed_at": s.signed_at,
        "return_reason": s.return_reason,
        "handover_to": s.handover_to,
        "acknowledged_by": s.acknowledged_by,
        "acknowledged_at": s.acknowledged_at,
        "issued_at": s.issued_at,
        "closed_at": s.closed_at,
        "summary": s.summary,
        "items_count": len(s.items),
        "updated_at": at,
    }


def _write_items(session: Session, s: LetterSnapshot, ch: LetterChange, new: bool) -> None:
    """The item rows the change names (all of them when it names none); a ``new`` letter's
    items are all new (its first event was just appended), so none is looked up."""
    wanted = set(ch.item_ids) if ch.item_ids is not None else None
    if new:
        # One executemany of plain rows: building an ORM object per item cost more than the
        # INSERTs themselves (bench/cascade.py, 13 items per letter).
        rows = [
            {"id": i.id, **_item_row(s, i, ch.at)}
            for i in s.items
            if wanted is None or i.id in wanted
        ]
        if rows:  # an empty list would insert one row of defaults
            session.flush()  # the letter row first: the items refer to it
            session.execute(insert(Item), rows)
        return
    for i in s.items:
        if wanted is not None and i.id not in wanted:
            continue
        item = session.get(Item, i.id)
        vals = _item_row(s, i, ch.at)
        if item is None:
            session.add(Item(id=i.id, **vals))
        else:
            for k, v in vals.items():
                setattr(item, k, v)


def persist_letter_change(session: Session, ch: LetterChange) -> bool:
    """Letter row, the changed item rows and one audit event, in the caller's transaction.

    Idempotent: a retry finds the event's key and writes nothing (returns False).
    """
    s = ch.snapshot
    _, created = append_event(
        session,
        idempotency_key=ch.key,
        actor=ch.actor,
        action=ch.action,
        entity_type="letter",
        entity_id=s.letter_id,
        payload={
            **ch.payload,
            "version": s.version,
            "state": s.state.value,
            "content_hash": s.content_hash,
        },
        at=ch.at,
        org_path=s.org_path,
    )
    if not created:
        return False
    values = _letter_row(s, ch.at)
    row = session.get(Letter, s.letter_id)
    if row is None:
        session.add(Letter(id=s.letter_id, **values))
    else:
        for k, v in values.items():
            setattr(row, k, v)
        if ch.action == "sign":
            row.overdue_level = 0  # signed: no longer overdue
    if ch.action == "close" and s.level == 0:
        cycle = session.get(Cycle, s.cycle_id)
        if cycle is not None:
            cycle.state = "closed"
            session.add(cycle)
    _write_items(session, s, ch, new=row is None)
    session.flush()
    return True


def load_letter(session: Session, letter_id: str) -> LetterSnapshot | None:
    """The stored snapshot (an ``issue`` retried after its commit returns what was written)."""
    row = session.get(Letter, letter_id)
    if row is None:
        return None
    items = session.exec(
        select(Item).where(Item.letter_id == letter_id).order_by(col(Item.seq))
    ).all()
    return LetterSnapshot(
        letter_id=row.id,
        cycle_id=row.cycle_id,
        org_id=row.org_id,
        org_name=row.org_name,
        org_path=row.org_path,
        level=row.level,
        parent_org_id=row.parent_org_id,
        head_person_id=row.head_person_id,
        issuer_person_id=row.issuer_person_id,
        version=row.version,
        content_hash=row.content_hash,
        state=LetterState(row.state),
        items=[_item_snapshot(i) for i in items],
        signed_version=row.signed_version,
        signed_by=row.signed_by,
        signed_at=row.signed_at,
        return_reason=row.return_reason,
        handover_to=row.handover_to,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        issued_at=row.issued_at,
        closed_at=row.closed_at,
        summary=row.summary,
    )


def _item_snapshot(i: Item) -> ItemSnapshot:
    return ItemSnapshot(
        id=i.id,
        seq=i.seq,
        category=i.category,  # type: ignore[arg-type]
        responsibility=i.responsibility,  # type: ignore[arg-type]
        title=i.title,
        indicator=indicator_of(i),
        due=i.due,
        assignee_person_id=i.assignee_person_id,
        state=i.state,  # type: ignore[arg-type]
        actual=i.actual,
        note=i.note,
        evidence=list(i.evidence),
        decided_at=i.decided_at,
        confirmation=i.confirmation,  # type: ignore[arg-type]
        confirmed_by=i.confirmed_by,
        confirmed_at=i.confirmed_at,
        confirmation_reason=i.confirmation_reason,
    )


def child_org_ids(session: Session, org_id: str, after: str | None, limit: int) -> list[str]:
    """One page of an org's direct children, by id (the cascade's stable order)."""
    q = select(Org.id).where(Org.parent_id == org_id)
    if after is not None:
        q = q.where(col(Org.id) > after)
    return list(session.exec(q.order_by(col(Org.id)).limit(limit)).all())


def persist_commitment_change(session: Session, ch: CommitmentChange) -> bool:
    s = ch.snapshot
    _, created = append_event(
        session,
        idempotency_key=ch.key,
        actor=ch.actor,
        action=f"commitment_{ch.action}",
        entity_type="commitment",
        entity_id=s.commitment_id,
        payload={**ch.payload, "state": s.state.value, "version": s.version},
        at=ch.at,
        org_path=s.org_path,
    )
    if not created:
        return False
    values = s.model_dump(exclude={"commitment_id"})
    values["state"] = s.state.value
    values["updated_at"] = ch.at
    row = session.get(Commitment, s.commitment_id)
    if row is None:
        session.add(Commitment(id=s.commitment_id, **values))
    else:
        for k, v in values.items():
            setattr(row, k, v)
    session.flush()
    return True
