"""The annual cycle's read model: cycles, letters, items, commitments; launch checks; persistence.

The org workflows (``cycle:{cycle}:org:{org}``) own the state; this module writes each change
they make (row + audit event in one transaction, idempotent by a key the workflow computes) and
answers the API's reads and the cycle's progress view.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, func
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, col, select

from services.audit import append_event
from services.cycle_models import (
    CommitmentChange,
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
from services.cycle_plan import Indicator, Plan, plan_errors, validate_against_tree
from services.errors import Invalid, NotFound
from services.orgs import ID_PATTERN, Org, get_org, under_path, utcnow


class Cycle(SQLModel, table=True):
    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("root_org_id", "year", name="uq_cycles_root_year"),)

    id: str = SQLField(primary_key=True, max_length=80)
    root_org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    root_path: str = SQLField(max_length=2000)
    year: int
    title: str = SQLField(max_length=300)
    plan: dict[str, Any] = SQLField(sa_column=Column(JSON, nullable=False))
    timezone: str = SQLField(max_length=60)
    state: str = SQLField(default="running", max_length=20)
    launched_by: str = SQLField(max_length=120)
    launched_at: datetime


class Letter(SQLModel, table=True):
    __tablename__ = "letters"
    __table_args__ = (
        Index("ix_letters_cycle_level_state", "cycle_id", "level", "state"),
        Index("ix_letters_cycle_path", "cycle_id", "org_path"),
    )

    id: str = SQLField(primary_key=True, max_length=150)
    cycle_id: str = SQLField(max_length=80)
    org_id: str = SQLField(foreign_key="orgs.id", index=True, max_length=64)
    org_name: str = SQLField(max_length=200)
    org_path: str = SQLField(max_length=2000)
    level: int
    parent_org_id: str | None = SQLField(default=None, max_length=64)
    head_person_id: str | None = SQLField(default=None, max_length=64)
    issuer_person_id: str | None = SQLField(default=None, max_length=64)
    version: int
    content_hash: str = SQLField(max_length=64)
    state: str = SQLField(max_length=20)
    signed_version: int | None = None
    signed_by: str | None = SQLField(default=None, max_length=120)
    signed_at: datetime | None = None
    return_reason: str | None = SQLField(default=None, sa_column=Column(Text))
    issued_at: datetime
    closed_at: datetime | None = None
    summary: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    items_count: int = 0
    overdue_level: int = 0
    updated_at: datetime = SQLField(default_factory=utcnow)


class Item(SQLModel, table=True):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_cycle_state", "cycle_id", "state"),
        Index("ix_items_letter_seq", "letter_id", "seq"),
    )

    id: str = SQLField(primary_key=True, max_length=200)
    cycle_id: str = SQLField(max_length=80)
    org_id: str = SQLField(max_length=64, index=True)
    org_path: str = SQLField(max_length=2000, index=True)
    letter_id: str = SQLField(max_length=150)
    seq: int
    category: str = SQLField(max_length=20)
    responsibility: str = SQLField(max_length=20)
    title: str = SQLField(max_length=300)
    metric: str = SQLField(max_length=200)
    target: float
    unit: str = SQLField(max_length=40)
    standard: str = SQLField(default="", max_length=500)
    due: date
    assignee_person_id: str | None = SQLField(default=None, max_length=64, index=True)
    state: str = SQLField(max_length=20)
    actual: float | None = None
    note: str = SQLField(default="", sa_column=Column(Text, nullable=False))
    evidence: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    decided_at: datetime | None = None
    overdue_level: int = 0
    updated_at: datetime = SQLField(default_factory=utcnow)


class Commitment(SQLModel, table=True):
    __tablename__ = "commitments"
    __table_args__ = (
        Index("ix_commitments_cycle_state", "cycle_id", "state"),
        Index("ix_commitments_org_state", "org_id", "state"),
    )

    id: str = SQLField(primary_key=True, max_length=40)
    cycle_id: str = SQLField(max_length=80)
    org_id: str = SQLField(max_length=64)
    org_path: str = SQLField(max_length=2000, index=True)
    person_id: str = SQLField(max_length=64)
    text: str = SQLField(sa_column=Column(Text, nullable=False))
    item_ids: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = SQLField(max_length=20)
    version: int
    return_reason: str | None = SQLField(default=None, sa_column=Column(Text))
    submitted_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = SQLField(default=None, max_length=120)
    updated_at: datetime = SQLField(default_factory=utcnow)


# --- launch ----------------------------------------------------------------------------------


class CycleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_org_id: str = Field(pattern=ID_PATTERN)
    year: int = Field(ge=2000, le=2200)
    title: str = Field(min_length=1, max_length=300)
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
    """Write the cycle row and its audit event once; False when already there."""
    if session.get(Cycle, rec.cycle_id) is not None:
        return False
    root = get_org(session, rec.root_org_id)
    session.add(
        Cycle(
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
    )
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
    session.flush()
    return True


def get_cycle(session: Session, cycle_id: str) -> Cycle:
    c = session.get(Cycle, cycle_id)
    if c is None:
        raise NotFound(f"cycle {cycle_id!r} does not exist", field="cycle_id")
    return c


def find_cycle(session: Session, root_org_id: str, year: int) -> Cycle | None:
    return session.get(Cycle, cycle_id_for(root_org_id, year))


# --- letters: building, persisting, loading ------------------------------------------------


def build_letter(session: Session, cycle: Cycle, org: Org, at: datetime) -> LetterSnapshot:
    """Version 1 of ``org``'s letter from the cycle's plan: its kind's items, then its extras."""
    plan = Plan.model_validate(cycle.plan)
    templates = [*plan.templates.get(org.kind, []), *plan.extra_items.get(org.id, [])]
    items = [
        item_from_template(t, cycle.id, org.id, seq, org.head_person_id)
        for seq, t in enumerate(templates, start=1)
    ]
    root = get_org(session, cycle.root_org_id)
    parent = session.get(Org, org.parent_id) if org.parent_id and org.id != root.id else None
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
        "due": i.due,
        "assignee_person_id": i.assignee_person_id,
        "state": i.state.value,
        "actual": i.actual,
        "note": i.note,
        "evidence": list(i.evidence),
        "decided_at": i.decided_at,
        "updated_at": at,
    }


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
    values: dict[str, Any] = {
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
        "issued_at": s.issued_at,
        "closed_at": s.closed_at,
        "summary": s.summary,
        "items_count": len(s.items),
        "updated_at": ch.at,
    }
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
    wanted = set(ch.item_ids) if ch.item_ids is not None else None
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
        indicator=Indicator(metric=i.metric, target=i.target, unit=i.unit, standard=i.standard),
        due=i.due,
        assignee_person_id=i.assignee_person_id,
        state=i.state,  # type: ignore[arg-type]
        actual=i.actual,
        note=i.note,
        evidence=list(i.evidence),
        decided_at=i.decided_at,
    )


def child_org_ids(session: Session, org_id: str, after: str | None, limit: int) -> list[str]:
    """One page of an org's direct children, by id (the cascade's stable order)."""
    q = select(Org.id).where(Org.parent_id == org_id)
    if after is not None:
        q = q.where(col(Org.id) > after)
    return list(session.exec(q.order_by(col(Org.id)).limit(limit)).all())


# --- commitments -----------------------------------------------------------------------------


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


# --- reads -----------------------------------------------------------------------------------


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
            indicator=Indicator(metric=i.metric, target=i.target, unit=i.unit, standard=i.standard),
            due=i.due,
            assignee_person_id=i.assignee_person_id,
            state=i.state,
            actual=i.actual,
            note=i.note,
            evidence=list(i.evidence),
            decided_at=i.decided_at,
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


class LevelProgress(BaseModel):
    level: int
    orgs: int
    letters_issued: int  # letters that exist at this level (any state)
    letters_signed: int  # signed at least once and not awaiting a renewed signature
    letters_returned: int
    letters_overdue: int


class CycleProgress(BaseModel):
    cycle_id: str
    root_org_id: str
    year: int
    title: str
    state: str
    timezone: str
    calendar: dict[str, Any]
    launched_at: datetime
    orgs: int
    letters_issued: int
    letters_signed: int
    levels: list[LevelProgress]
    commitments: dict[str, int]
    items: dict[str, int]
    problems: dict[str, int]
    overdue: dict[str, dict[str, int]]  # entity → {overdue level → count}


def cycle_progress(session: Session, cycle: Cycle, under: str | None = None) -> CycleProgress:
    """Aggregated from the read model (never from thousands of workflow queries), over the
    subtree at path ``under`` (default: the whole tree); levels count from the cycle's root."""
    from services.problems import Problem  # problems imports nothing from here; avoid a cycle

    root = get_org(session, cycle.root_org_id)
    under = under or root.path
    orgs_by_level: dict[int, int] = {
        int(depth) - root.depth: int(n)
        for depth, n in session.exec(
            select(Org.depth, func.count())
            .where(under_path(Org.path, under))
            .group_by(col(Org.depth))
        ).all()
    }
    letters: dict[int, dict[str, int]] = {}
    overdue_letters: dict[int, int] = {}
    late = col(Letter.overdue_level) > 0
    for level, state, overdue, n in session.exec(
        select(Letter.level, Letter.state, late, func.count())
        .where(Letter.cycle_id == cycle.id, under_path(Letter.org_path, under))
        .group_by(col(Letter.level), col(Letter.state), late)
    ).all():
        by_state = letters.setdefault(int(level), {})
        by_state[str(state)] = by_state.get(str(state), 0) + int(n)
        if overdue:
            overdue_letters[int(level)] = overdue_letters.get(int(level), 0) + int(n)
    levels = [
        LevelProgress(
            level=lv,
            orgs=orgs_by_level.get(lv, 0),
            letters_issued=sum(letters.get(lv, {}).values()),
            letters_signed=letters.get(lv, {}).get(LetterState.signed.value, 0),
            letters_returned=letters.get(lv, {}).get(LetterState.returned.value, 0),
            letters_overdue=overdue_letters.get(lv, 0),
        )
        for lv in sorted(set(orgs_by_level) | set(letters))
    ]

    def counts(column: Any, *where: Any) -> dict[str, int]:
        rows = session.exec(select(column, func.count()).where(*where).group_by(column)).all()
        return {str(k): int(n) for k, n in rows}

    def overdue_levels(model: Any, *where: Any) -> dict[str, int]:
        rows = session.exec(
            select(model.overdue_level, func.count())
            .where(model.overdue_level > 0, *where)
            .group_by(model.overdue_level)
        ).all()
        return {str(k): int(n) for k, n in rows}

    return CycleProgress(
        cycle_id=cycle.id,
        root_org_id=cycle.root_org_id,
        year=cycle.year,
        title=cycle.title,
        state=cycle.state,
        timezone=cycle.timezone,
        calendar=dict(cycle.plan.get("calendar", {})),
        launched_at=cycle.launched_at,
        orgs=sum(orgs_by_level.values()),
        letters_issued=sum(lv.letters_issued for lv in levels),
        letters_signed=sum(lv.letters_signed for lv in levels),
        levels=levels,
        commitments=counts(
            Commitment.state,
            Commitment.cycle_id == cycle.id,
            under_path(Commitment.org_path, under),
        ),
        items=counts(Item.state, Item.cycle_id == cycle.id, under_path(Item.org_path, under)),
        problems=counts(
            Problem.state, Problem.cycle_id == cycle.id, under_path(Problem.org_path, under)
        ),
        overdue={
            "letters": overdue_levels(
                Letter, Letter.cycle_id == cycle.id, under_path(Letter.org_path, under)
            ),
            "problems": overdue_levels(
                Problem,
                Problem.cycle_id == cycle.id,
                under_path(Problem.org_path, under),
                col(Problem.state).not_in(["closed", "dismissed"]),
            ),
        },
    )
