"""The rectification ledger: filtered, sorted, stably paged rows, live or as of a past day.

The live view reads the ``problems`` table; the point-in-time view (``as_of``) rebuilds each
problem's state, due date and overdue level from the audit chain as it stood at the end of that
day, so it answers "where did things stand" even for rows that have changed since.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from services.audit.chain import AuditEvent
from services.core.clock import as_utc, deadline_instant
from services.core.errors import Invalid
from services.ledger.filters import LedgerFilter, LedgerRow, SortKey
from services.org.models import Org
from services.org.queries import like_prefix
from services.rectification.models import Carryover, Problem
from services.rectification.rules import NOT_TRANSITIONS


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else as_utc(dt)


def on_time(
    state: str, due: date | None, closed: datetime | None, today: date, tz: str
) -> bool | None:
    """Closed: closed by the end of its due day. Open: its due day has not passed. No due: None."""
    if due is None or state == "dismissed":
        return None
    if closed is not None and state == "closed":
        return closed <= deadline_instant(due, tz)
    return today <= due


def _scope_path(session: Session, f: LedgerFilter, scope_path: str) -> tuple[str, str | None]:
    """The org path to filter on (the caller's scope or a requested org within it)."""
    if f.org is None:
        return scope_path, None
    org = session.get(Org, f.org)
    if org is None or not org.path.startswith(scope_path):
        # One answer for an unknown org and one outside the scope.
        message = f"no org {f.org!r} in this account's scope"
        raise Invalid(message, errors=[{"field": "org", "message": message}])
    return org.path, org.id


def check_scope(session: Session, f: LedgerFilter, scope_path: str) -> None:
    """Raise now (404/403) for an unknown or out-of-scope org: a streamed export cannot later."""
    _scope_path(session, f, scope_path)


def _conditions(f: LedgerFilter, path: str, org_id: str | None) -> list[Any]:
    P = Problem
    cond: list[Any] = []
    if path != "/":  # every path starts with "/": no condition to test on each row
        cond.append(P.org_path.like(like_prefix(path), escape="\\"))  # type: ignore[attr-defined]
    if org_id is not None and not f.subtree:
        cond.append(P.org_id == org_id)
    if f.cycle is not None:  # its own problems and those carried into it from earlier years
        carried = select(col(Carryover.problem_id)).where(col(Carryover.cycle_id) == f.cycle)
        cond.append(or_(col(P.cycle_id) == f.cycle, col(P.id).in_(carried)))
    for values, column in (
        (f.severity, P.severity),
        (f.source, P.source),
        (f.category, P.category),
    ):
        if values:
            cond.append(column.in_(values))  # type: ignore[attr-defined]
    if f.q:
        needle = like_prefix(f.q.lower()).rstrip("%")
        pattern = f"%{needle}%"
        cond.append(
            or_(
                func.lower(P.title).like(pattern, escape="\\"),
                func.lower(P.description).like(pattern, escape="\\"),
            )
        )
    return cond


def sort_column(f: LedgerFilter) -> tuple[Any, bool]:
    """The column the ledger is sorted by, and whether descending."""
    P = Problem
    column: Any = {
        SortKey.due: P.due,
        SortKey.opened: P.opened_at,
        SortKey.org: P.org_path,
        SortKey.severity: P.severity_rank,
        SortKey.overdue_level: P.overdue_level,
    }[SortKey(f.sort.removeprefix("-"))]
    return column, f.sort.startswith("-")


def _order(f: LedgerFilter) -> list[Any]:
    column, desc = sort_column(f)
    nulls = column.is_(None)  # rows without a due date sort last either way
    # Ties by id in the same direction, so a keyset page (services.ledger.keyset) seeks to a
    # (value, id) pair in one index range.
    ident = col(Problem.id)
    return [nulls, column.desc(), ident.desc()] if desc else [nulls, column.asc(), ident.asc()]


def _filtered(stmt: Any, f: LedgerFilter, path: str, org_id: str | None) -> Any:
    P = Problem
    stmt = stmt.where(*_conditions(f, path, org_id))
    if f.state:
        stmt = stmt.where(col(P.state).in_(f.state))
    if f.min_overdue_level is not None:
        stmt = stmt.where(col(P.overdue_level) >= f.min_overdue_level)
    if f.due_before is not None:
        stmt = stmt.where(col(P.due) < f.due_before)
    return stmt


def live_query(session: Session, f: LedgerFilter, scope_path: str) -> Select[Problem, str]:
    path, org_id = _scope_path(session, f, scope_path)
    stmt = select(Problem, col(Org.name)).join(Org, col(Org.id) == col(Problem.org_id))
    result: Select[Problem, str] = _filtered(stmt, f, path, org_id).order_by(*_order(f))
    return result


def _row(p: Problem, org_name: str, today: date, tz: str, **asof: Any) -> LedgerRow:
    state = asof.get("state", p.state)
    due = asof.get("due", p.due)
    closed = _aware(asof.get("closed", p.closed_at))
    opened = _aware(p.opened_at)
    assert opened is not None
    end = closed or deadline_instant(today, tz)
    return LedgerRow(
        problem_id=p.id,
        org_id=p.org_id,
        org_name=org_name,
        org_path=p.org_path,
        cycle_id=p.cycle_id,
        title=p.title,
        source=p.source,
        category=p.category,
        severity=p.severity,
        owner_person_id=asof.get("owner", p.owner_person_id),
        state=state,
        overdue_level=asof.get("overdue_level", p.overdue_level),
        extension_pending=asof.get("extension_pending", p.extension_pending),
        due=due,
        opened=opened,
        closed=closed,
        days_open=max(0, (end - opened).days),
        on_time=on_time(state, due, closed, today, tz),
    )


def _state_as_of(session: Session, ids: list[str], cutoff: datetime) -> dict[str, dict[str, Any]]:
    """Each problem's last recorded transition at or before ``cutoff``, from the audit chain."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        last = (
            select(col(AuditEvent.entity_id), func.max(col(AuditEvent.seq)).label("seq"))
            .where(
                col(AuditEvent.entity_type) == "problem",
                col(AuditEvent.entity_id).in_(chunk),
                col(AuditEvent.at) <= cutoff,
                col(AuditEvent.action).not_in(NOT_TRANSITIONS),
            )
            .group_by(col(AuditEvent.entity_id))
            .subquery()
        )
        rows = session.execute(
            select(col(AuditEvent.entity_id), col(AuditEvent.payload), col(AuditEvent.at)).join(
                last, col(AuditEvent.seq) == last.c.seq
            )
        ).all()
        for entity_id, payload, at in rows:
            out[entity_id] = {"payload": payload, "at": _aware(at)}
        levels = session.execute(
            select(col(AuditEvent.entity_id), col(AuditEvent.payload)).where(
                col(AuditEvent.entity_type) == "problem",
                col(AuditEvent.entity_id).in_(chunk),
                col(AuditEvent.at) <= cutoff,
                col(AuditEvent.action) == "escalate",
            )
        ).all()
        for entity_id, payload in levels:
            rec = out.get(entity_id)
            if rec is None or str(payload.get("due")) != str(rec["payload"].get("due")):
                continue  # an escalation of an earlier due date, superseded by an extension
            rec["level"] = max(rec.get("level", 0), int(payload.get("overdue_level", 0)))
    return out


def _as_of_fields(rec: dict[str, Any], cutoff: datetime) -> dict[str, Any]:
    payload = rec["payload"]
    due = payload.get("due")
    state = payload.get("state")
    return {
        "state": state,
        "due": date.fromisoformat(due) if due else None,
        "owner": payload.get("owner"),
        "extension_pending": bool(payload.get("extension_pending", False)),
        "overdue_level": rec.get("level", 0),
        "closed": rec["at"] if state == "closed" else None,
    }


def iter_ledger(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, batch: int = 2000
) -> Iterator[LedgerRow]:
    """Every matching row in order, streamed from a server-side cursor in batches."""
    today = f.as_of or datetime.now(ZoneInfo(tz)).date()
    if f.as_of is None:
        stmt = live_query(session, f, scope_path).execution_options(yield_per=batch)
        for p, org_name in session.execute(stmt):
            yield _row(p, org_name, today, tz)
        return
    yield from _as_of_rows(session, f, scope_path, tz, today, batch)


def _as_of_rows(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, today: date, batch: int
) -> Iterator[LedgerRow]:
    cutoff = deadline_instant(today, tz)
    base = f.model_copy(update={"state": [], "overdue": None, "due_before": None})
    stmt = live_query(session, base, scope_path).where(col(Problem.opened_at) <= cutoff)
    rows = session.execute(stmt).all()
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        states = _state_as_of(session, [p.id for p, _ in chunk], cutoff)
        for p, org_name in chunk:
            rec = states.get(p.id)
            if rec is None:
                continue
            fields = _as_of_fields(rec, cutoff)
            row = _row(p, org_name, today, tz, **fields)
            if f.state and row.state not in f.state:
                continue
            if f.min_overdue_level is not None and row.overdue_level < f.min_overdue_level:
                continue
            if f.due_before is not None and (row.due is None or row.due >= f.due_before):
                continue
            yield row


def ledger_page(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, offset: int, limit: int
) -> tuple[list[LedgerRow], int]:
    """A page by position (``offset``), and the number of matching rows.

    The page's ids are found first, by counting past the earlier rows in the sort's index on
    (sort column, id), e.g. ``ix_problems_due_id``: the index alone when nothing narrows the
    rows, as for the whole ledger at the root; with a filter or a scope below the root, the
    matching rows are sorted first. Only the page's own rows are then read and joined to their
    orgs. The statements are separate reads: on PostgreSQL a row written between them may be
    missed or shown twice across pages, which a page number (a position) cannot avoid anyway."""
    if f.as_of is not None:
        rows = list(iter_ledger(session, f, scope_path, tz))
        return rows[offset : offset + limit], len(rows)
    path, org_id = _scope_path(session, f, scope_path)
    matching = _matching_ids(f, path, org_id)
    total = _count(session, matching)
    ids = _ids_at(session, f, matching, offset, limit) if offset < total else []
    if not ids:
        return [], total
    found = session.execute(
        select(Problem, col(Org.name))
        .join(Org, col(Org.id) == col(Problem.org_id))
        .where(col(Problem.id).in_(ids))
    ).all()
    by_id = {p.id: (p, name) for p, name in found}
    today = datetime.now(ZoneInfo(tz)).date()
    return [_row(*by_id[pid], today, tz) for pid in ids if pid in by_id], total


def _ids_at(
    session: Session, f: LedgerFilter, matching: Select[Any], offset: int, limit: int
) -> list[str]:
    """The ids of the ``limit`` rows of ``matching`` from position ``offset`` in the ledger's
    order.

    That order is two index ranges (see ``_order``): rows with a sort value by (value, id),
    then rows without one (no due date) by id. Each is read on its own, as one ordered range,
    because ``ORDER BY value IS NULL`` would keep the database from reading the index in order.
    """
    column, desc = sort_column(f)
    ident = col(Problem.id)

    def ordered(stmt: Any, keys: list[Any], skip: int, n: int) -> list[str]:
        order = [k.desc() if desc else k.asc() for k in keys]
        return list(session.scalars(stmt.order_by(*order).offset(skip).limit(n)))

    if SortKey(f.sort.removeprefix("-")) is not SortKey.due:  # never missing: one range
        return ordered(matching, [column, ident], offset, limit)
    valued = matching.where(column.is_not(None))
    found = ordered(valued, [column, ident], offset, limit)
    if len(found) == limit:
        return found
    # The valued rows end within the page: the rows without a value follow from the first. Or
    # the page starts past the valued rows: skip the rest of the offset among the others.
    skip = 0 if found else offset - _count(session, valued)
    rest = matching.where(column.is_(None))
    return found + ordered(rest, [ident], max(skip, 0), limit - len(found))


def _matching_ids(f: LedgerFilter, path: str, org_id: str | None) -> Select[Any]:
    """The ids of the live rows ``f`` matches under ``path``. Without the rows' join to their
    orgs: every problem's org exists (a foreign key), so the join cannot change which rows
    match, and without it a count or an id page may read an index alone."""
    matching: Select[Any] = _filtered(select(col(Problem.id)), f, path, org_id)
    return matching


def _count(session: Session, stmt: Select[Any]) -> int:
    return int(session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


def ledger_count(session: Session, f: LedgerFilter, scope_path: str) -> int:
    """How many live rows match ``f`` (the ``as_of`` view counts the rows it rebuilt)."""
    path, org_id = _scope_path(session, f, scope_path)
    return _count(session, _matching_ids(f, path, org_id))
