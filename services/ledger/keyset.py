"""Keyset pages of the ledger: the page after a given row, found by seeking to its sort value
and id instead of counting past every row before it (OFFSET), so page 2,000 costs what page 1
does. A cursor names the sort it belongs to and the last row's value and id; it is opaque to
clients (``next_after`` of one page is ``after`` of the next).

The order is the ledger's: rows with a value by (value, id) in the sort's direction, then rows
without one (no due date) by id. Each part is one index range, read separately.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session
from sqlmodel import col

from services.core.clock import today_in
from services.core.errors import Invalid
from services.ledger.as_of import with_their_periods
from services.ledger.filters import LedgerFilter, LedgerRow, SortKey
from services.ledger.queries import (
    _scope_path,
    ledger_count,
    matching,
    sort_column,
)
from services.ledger.rows import ledger_row
from services.org.models import Org
from services.rectification.contracts import SEVERITY_RANK, Severity
from services.rectification.models import Problem


def cursor_of(f: LedgerFilter, row: LedgerRow) -> str:
    """The cursor of the page after ``row`` under ``f``'s sort."""
    key = SortKey(f.sort.removeprefix("-"))
    value: Any = {
        SortKey.due: row.due.isoformat() if row.due else None,
        SortKey.opened: row.opened.isoformat(),
        SortKey.org: row.org_path,
        SortKey.severity: SEVERITY_RANK[Severity(row.severity)],
        SortKey.overdue_level: row.overdue_level,
    }[key]
    raw = json.dumps([f.sort, value, row.problem_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(f: LedgerFilter, cursor: str, field: str) -> tuple[Any, str]:
    def refuse(why: str) -> Invalid:
        message = f"not a cursor of this listing: {why}"
        return Invalid(message, errors=[{"field": field, "message": message}])

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort, value, pid = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise refuse("unreadable") from exc
    if sort != f.sort:
        raise refuse(f"it belongs to sort={sort!r}, not sort={f.sort!r}")
    if not isinstance(pid, str):
        raise refuse("no row id")
    key = SortKey(f.sort.removeprefix("-"))
    try:
        if value is None and key is not SortKey.due:
            raise ValueError("only a due date may be missing")
        if key is SortKey.due and value is not None:
            value = date.fromisoformat(value)
        elif key is SortKey.opened:
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("an opening time carries its offset")
        elif key is SortKey.org and not isinstance(value, str):
            raise ValueError("an org path is text")
        elif key in (SortKey.severity, SortKey.overdue_level) and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000
        ):
            raise ValueError("a small whole number")
    except (TypeError, ValueError) as exc:
        raise refuse(str(exc)) from exc
    return value, pid


def page_after(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, cursor: str, limit: int
) -> tuple[list[LedgerRow], int]:
    """The ``limit`` rows after the cursor's row, in the ledger's order, and the number of
    matching rows (as ``ledger_page`` answers)."""
    return _page(session, f, scope_path, tz, cursor, limit, backward=False)


def page_before(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, cursor: str, limit: int
) -> tuple[list[LedgerRow], int]:
    """The ``limit`` rows before the cursor's row (the previous page), in the ledger's order,
    and the number of matching rows: walked back from the cursor and turned round."""
    return _page(session, f, scope_path, tz, cursor, limit, backward=True)


def _page(
    session: Session,
    f: LedgerFilter,
    scope_path: str,
    tz: str,
    cursor: str,
    limit: int,
    *,
    backward: bool,
) -> tuple[list[LedgerRow], int]:
    value, pid = _decode(f, cursor, "before" if backward else "after")
    path, org_id = _scope_path(session, f, scope_path)
    column, desc = sort_column(f)
    base = _rows_query(f, path, org_id, tz)
    if f.as_of is not None:
        # As of a day the rows keep the live order (services.ledger.as_of): seek from the
        # cursor row's present sort value, not the one it showed that day.
        present = session.execute(select(column).where(col(Problem.id) == pid)).first()
        value = present[0] if present is not None else value
    ident = col(Problem.id)
    # Walking back is walking forward in the other direction, with the rows without a value
    # (last in the ledger's order) coming first.
    toward = desc != backward

    def valued(past: tuple[Any, str] | None, n: int) -> list[Any]:  # by (value, id)
        return _seek(session, base.where(column.is_not(None)), [column, ident], past, toward, n)

    def without(past: tuple[str] | None, n: int) -> list[Any]:  # no value (no due date): by id
        return _seek(session, base.where(column.is_(None)), [ident], past, toward, n)

    found: list[Any]
    if backward:
        found = [] if value is not None else without((pid,), limit)
        found += valued((value, pid) if value is not None else None, limit - len(found))
        found.reverse()
    else:
        found = valued((value, pid), limit) if value is not None else []
        found += without((pid,) if value is None else None, limit - len(found))
    if f.as_of is None:
        today = today_in(tz)
        rows = [ledger_row(p, name, today, tz) for p, name in found]
    else:
        rows = with_their_periods(session, found, f, tz)
    return rows, ledger_count(session, f, scope_path, tz)


def _rows_query(
    f: LedgerFilter, path: str, org_id: str | None, tz: str
) -> Select[*tuple[Any, ...]]:
    """The rows ``f`` matches under ``path``, live or as of its day (then without their fields
    of the day, which ``with_their_periods`` reads for the page's rows alone)."""
    joined = select(Problem, col(Org.name)).join(Org, col(Org.id) == col(Problem.org_id))
    return matching(joined, f, path, org_id, tz, walked=True)


def _seek(
    session: Session,
    stmt: Select[Any],
    keys: list[Any],
    past: tuple[Any, ...] | None,
    desc: bool,
    limit: int,
) -> list[Any]:
    """Up to ``limit`` of ``stmt``'s rows in ``keys`` order (descending if ``desc``), past the
    ``past`` key if given: one index range."""
    if limit <= 0:
        return []
    if past is not None:
        key = tuple_(*keys) if len(keys) > 1 else keys[0]
        bound = past if len(keys) > 1 else past[0]
        stmt = stmt.where(key < bound if desc else key > bound)
    order = [k.desc() if desc else k.asc() for k in keys]
    return list(session.execute(stmt.order_by(*order).limit(limit)))
