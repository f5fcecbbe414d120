"""A problem's ledger fields over time: one period per version of its row, from the write that
made it until the next one. The ledger as of a past day (``services.ledger.as_of``) reads the
periods valid that day, with its filters, order and page, as one query: rebuilding each row from
the audit chain read every event of every problem in scope, and took seconds for a large tree.

Written in the transaction that writes the row and its audit event, and only when that write
changed something: a transition (``persist_transition``, once per version) and an escalation
that raised the overdue level (``raise_overdue``); so retries write no period twice. The
migration that made the table (0019) filled it from the chain with its own copy of this rule.
The drift check rebuilds each problem's periods from the chain (``periods_from_events``),
compares its row with the last of them, and names a problem whose stored periods differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, Table, and_, case, insert, literal, or_, update
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, col

from services.rectification.rules import NOT_TRANSITIONS


class ProblemPeriod(SQLModel, table=True):
    __tablename__ = "problem_periods"
    __table_args__ = (
        # The periods valid at a day, counted in the index alone (the whole tree as of a day).
        Index("ix_problem_periods_valid", "valid_from", "valid_to", "problem_id", "state"),
        # A problem's period at a day, for the rows a filter or a page has already chosen.
        Index("ix_problem_periods_problem", "problem_id", "valid_from"),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    problem_id: str = SQLField(foreign_key="problems.id", max_length=40)
    valid_from: datetime
    valid_to: datetime | None = None  # None: the row's present fields
    state: str = SQLField(max_length=30)
    due: date | None = None
    owner_person_id: str | None = SQLField(default=None, max_length=64)
    extension_pending: bool = False
    overdue_level: int = 0


HISTORY_FIELDS = ("state", "due", "owner_person_id", "extension_pending", "overdue_level")
_PERIODS: Table = ProblemPeriod.metadata.tables["problem_periods"]


def valid_at(at: datetime) -> Any:
    """The condition that a problem's period is the one valid at ``at`` (joined by problem)."""
    P = ProblemPeriod
    return and_(col(P.valid_from) <= at, or_(col(P.valid_to).is_(None), col(P.valid_to) > at))


def record_period(session: Session, problem_id: str, at: datetime, **fields: Any) -> None:
    """End the problem's present period at ``at`` and begin one with ``fields`` (the others
    carried over from the period it ends). A write stamped earlier than the present period began
    (an escalation's firing time, written after a step that came later) begins where that one
    began, leaving it empty, so periods never overlap. Times are whole seconds, as the audit
    chain records its events' (``append_event``), so the periods rebuilt from it match.

    Two plain statements on the table (every step of every rectification writes here): the
    present period ended, returning its fields, and the next one inserted."""
    at = at.replace(microsecond=0)
    table = _PERIODS
    when = literal(at, table.c.valid_from.type)  # stored as the column stores times (UTC)
    ended = session.execute(
        update(table)
        .where(table.c.problem_id == problem_id, table.c.valid_to.is_(None))
        .values(valid_to=case((table.c.valid_from > at, table.c.valid_from), else_=when))
        .returning(table.c.valid_to, *(table.c[f] for f in HISTORY_FIELDS))
    ).first()
    values: dict[str, Any] = {"overdue_level": 0, "extension_pending": False}
    if ended is not None:
        at = ended[0]
        values.update(zip(HISTORY_FIELDS, ended[1:], strict=True))
    values.update(fields)
    session.execute(
        insert(table).values(problem_id=problem_id, valid_from=at, valid_to=None, **values)
    )


def periods_from_events(
    events: Iterable[tuple[str, dict[str, Any], datetime]],
) -> list[dict[str, Any]]:
    """One problem's periods rebuilt from its audit events in order, each (action, payload, at),
    as ``record_period`` writes them: a step begins one with its snapshot (the level kept while
    the due date stays, 0 on a new one); an escalation of the present due date that raises the
    level begins one with that level; a carry begins none. The drift check compares them with
    the stored periods."""
    periods: list[dict[str, Any]] = []
    for action, payload, at in events:
        current = periods[-1] if periods else None
        fields = _fields_after(current, action, payload)
        if fields is None:
            continue
        begins = at if current is None else max(at, current["valid_from"])
        if current is not None:
            current["valid_to"] = begins
        periods.append({**fields, "valid_from": begins, "valid_to": None})
    return periods


def _fields_after(
    current: dict[str, Any] | None, action: str, p: dict[str, Any]
) -> dict[str, Any] | None:
    due = date.fromisoformat(p["due"]) if p.get("due") else None
    if action == "escalate":
        level = int(p.get("overdue_level", 0))
        if current is None or due != current["due"] or level <= current["overdue_level"]:
            return None
        return {**{f: current[f] for f in HISTORY_FIELDS}, "overdue_level": level}
    if action in NOT_TRANSITIONS or "state" not in p:
        return None
    same_due = current is not None and due == current["due"]
    return {
        "state": p["state"],
        "due": due,
        "owner_person_id": p.get("owner"),
        "extension_pending": bool(p.get("extension_pending", False)),
        "overdue_level": current["overdue_level"] if current is not None and same_due else 0,
    }
