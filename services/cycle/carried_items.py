"""Last year's missed items on this year's letters: the items an org missed in the root's
previous cycle are listed on its new letter ("carried from last year") for the issuer to keep
(added to the letter as a new item, its due date moved one year) or drop; one decision each,
recorded with an audit event.

A decision is claimed (its row written) before a kept item is added, so two clicks or a retry
add it once; a keep whose amendment is refused gives its claim back.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.audit.chain import AuditEvent, append_event
from services.core.errors import Conflict, absent
from services.cycle.carryover import earlier_cycles
from services.cycle.models import CarriedItem, Cycle, Item
from services.cycle.plan import Indicator, ItemTemplate, same_day_in


class Decision(StrEnum):
    keep = "keep"
    drop = "drop"


class CarriedItemOut(BaseModel):
    item_id: str  # last year's
    cycle_id: str  # last year's cycle
    title: str
    category: str
    responsibility: str
    metric: str
    target: float
    unit: str
    standard: str
    assignee_person_id: str | None
    actual: float | None
    due: date  # last year's
    decision: Decision | None
    new_item_id: str | None
    decided_by: str | None


def _last_year(session: Session, cycle: Cycle) -> Cycle | None:
    earlier = earlier_cycles(session, cycle)
    return earlier[0] if earlier else None


def carried_items(session: Session, cycle: Cycle, org_id: str) -> list[CarriedItemOut]:
    last = _last_year(session, cycle)
    if last is None:
        return []
    missed = session.exec(
        select(Item)
        .where(Item.cycle_id == last.id, Item.org_id == org_id, Item.state == "missed")
        .order_by(col(Item.seq))
    ).all()
    decided = {
        d.item_id: d
        for d in session.exec(
            select(CarriedItem).where(
                CarriedItem.cycle_id == cycle.id, CarriedItem.org_id == org_id
            )
        ).all()
    }
    return [
        CarriedItemOut(
            item_id=i.id,
            cycle_id=last.id,
            title=i.title,
            category=i.category,
            responsibility=i.responsibility,
            metric=i.metric,
            target=i.target,
            unit=i.unit,
            standard=i.standard,
            assignee_person_id=i.assignee_person_id,
            actual=i.actual,
            due=i.due,
            decision=Decision(d.decision) if (d := decided.get(i.id)) else None,
            new_item_id=d.new_item_id if d else None,
            decided_by=d.decided_by if d else None,
        )
        for i in missed
    ]


def carried_item(session: Session, cycle: Cycle, org_id: str, item_id: str) -> CarriedItemOut:
    for c in carried_items(session, cycle, org_id):
        if c.item_id == item_id:
            return c
    raise absent(f"missed item {item_id!r} of last year", "item_id")


def as_template(c: CarriedItemOut, cycle: Cycle) -> ItemTemplate:
    """Last year's item as an item of this year (its due date moved into this year)."""
    return ItemTemplate(
        category=c.category,  # type: ignore[arg-type]
        responsibility=c.responsibility,  # type: ignore[arg-type]
        title=c.title,
        indicator=Indicator(metric=c.metric, target=c.target, unit=c.unit, standard=c.standard),
        due=same_day_in(c.due, cycle.year),
        # the person named for a specific or direct item; the head answers for the others
        assignee_person_id=c.assignee_person_id
        if c.responsibility in ("specific", "direct")
        else None,
    )


def claim(
    session: Session,
    cycle: Cycle,
    org_id: str,
    c: CarriedItemOut,
    decision: Decision,
    by: str,
    at: datetime,
) -> str:
    """Claim the decision (committed by the caller) and answer the claim's token; 409 when one
    was made already. The same decision claimed before but never recorded (its request died
    half-way) is taken up again, under the token of that claim."""
    if c.decision is decision and not _recorded(session, cycle, c.item_id):
        row = session.get(CarriedItem, (cycle.id, c.item_id))
        if row is not None:
            return _token(row)
    if c.decision is not None:
        raise Conflict(
            f"{c.item_id!r} was decided already ({c.decision.value}, by {c.decided_by})",
            state=c.decision.value,
        )
    try:
        with session.begin_nested():
            session.add(
                CarriedItem(
                    cycle_id=cycle.id,
                    item_id=c.item_id,
                    org_id=org_id,
                    decision=decision.value,
                    decided_by=by,
                    decided_at=at,
                )
            )
    except IntegrityError:
        raise Conflict(f"{c.item_id!r} was decided already", state="decided") from None
    row = session.get(CarriedItem, (cycle.id, c.item_id))
    assert row is not None
    return _token(row)


def _token(row: CarriedItem) -> str:
    """One claim's: a kept item's Update id carries it, so a claim given back and made again
    is a new step, never the cached answer of the old one."""
    return row.decided_at.strftime("%Y%m%dT%H%M%S%f")


def record(
    session: Session,
    cycle: Cycle,
    org_path: str,
    c: CarriedItemOut,
    new_item_id: str | None,
    by: str,
    at: datetime,
) -> None:
    """The decision's outcome and its audit event (once: a resumed twin finds it written)."""
    row = session.get(CarriedItem, (cycle.id, c.item_id))
    if row is None or _recorded(session, cycle, c.item_id):
        return
    row.new_item_id = new_item_id
    session.add(row)
    append_event(
        session,
        idempotency_key=_event_key(cycle, c.item_id),
        actor=by,
        action=f"carried_{row.decision}",
        entity_type="letter",
        entity_id=f"{cycle.id}:{row.org_id}",
        payload={"item_id": c.item_id, "from": c.cycle_id, "new_item_id": new_item_id},
        at=at,
        org_path=org_path,
    )


def _recorded(session: Session, cycle: Cycle, item_id: str) -> bool:
    key = _event_key(cycle, item_id)
    found = session.exec(select(AuditEvent.seq).where(AuditEvent.idempotency_key == key)).first()
    return found is not None


def _event_key(cycle: Cycle, item_id: str) -> str:
    return f"carried:{cycle.id}:{item_id}"


def release(session: Session, cycle: Cycle, item_id: str, token: str) -> None:
    """Give this claim back (a keep whose amendment was refused); another's stays."""
    row = session.get(CarriedItem, (cycle.id, item_id))
    if row is not None and _token(row) == token:
        session.delete(row)
