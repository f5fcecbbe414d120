"""The rectification ledger: filters, sorting, stable paging, point-in-time views, statistics.

Reads only the SQL read model. The live view reads the ``problems`` table; the point-in-time view
(``as_of``) rebuilds each problem's state, due date and overdue level from the audit chain — the
event history — as it stood at the end of that day, so it answers "where did things stand" even
for rows that have changed since.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from services.audit import AuditEvent
from services.errors import Invalid
from services.orgs import Org, like_prefix
from services.problems import OPEN_STATES, Problem
from services.stats import AGING_BUCKETS, aging_bucket, mean, percentile, rate

SEVERITY_RANK = {"minor": 1, "major": 2, "critical": 3}


class SortKey(StrEnum):
    due = "due"
    opened = "opened"
    org = "org"
    severity = "severity"
    overdue_level = "overdue_level"


class LedgerFilter(BaseModel):
    """Every ledger filter; unknown names or values are refused (422) by the API, naming them."""

    model_config = ConfigDict(extra="forbid")

    org: str | None = None
    subtree: bool = True
    cycle: str | None = None
    state: list[str] = Field(default_factory=list)
    overdue: str | None = None  # "any", or a minimum overdue level "1", "2", …
    severity: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    category: list[str] = Field(default_factory=list)
    due_before: date | None = None
    q: str | None = Field(default=None, max_length=200)
    sort: str = "due"
    as_of: date | None = None

    @field_validator("overdue")
    @classmethod
    def _overdue(cls, v: str | None) -> str | None:
        if v is None or v == "any" or (v.isdigit() and int(v) >= 1):
            return v
        raise ValueError("must be 'any' or a minimum overdue level (1, 2, …)")

    @field_validator("sort")
    @classmethod
    def _sort(cls, v: str) -> str:
        key = v.removeprefix("-")
        if key not in SortKey.__members__:
            allowed = ", ".join(SortKey.__members__)
            raise ValueError(f"unknown sort key {key!r}; one of {allowed}, optionally prefixed -")
        return v

    @property
    def min_overdue_level(self) -> int | None:
        if self.overdue is None:
            return None
        return 1 if self.overdue == "any" else int(self.overdue)


class LedgerRow(BaseModel):
    problem_id: str
    org_id: str
    org_name: str
    org_path: str
    cycle_id: str | None
    title: str
    source: str
    category: str
    severity: str
    owner_person_id: str | None
    state: str
    overdue_level: int
    extension_pending: bool
    due: date | None
    opened: datetime
    closed: datetime | None
    days_open: int
    on_time: bool | None


def end_of_day(d: date, timezone: str) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def on_time(
    state: str, due: date | None, closed: datetime | None, today: date, tz: str
) -> bool | None:
    """Closed: closed by the end of its due day. Open: its due day has not passed. No due: None."""
    if due is None or state == "dismissed":
        return None
    if closed is not None and state == "closed":
        return closed <= end_of_day(due, tz)
    return today <= due


# --- the live query -------------------------------------------------------------------------


def _scope_path(session: Session, f: LedgerFilter, scope_path: str) -> tuple[str, str | None]:
    """The org path to filter on (the caller's scope or a requested org within it)."""
    if f.org is None:
        return scope_path, None
    org = session.get(Org, f.org)
    if org is None:
        raise Invalid("unknown org", errors=[{"field": "org", "message": f"unknown org {f.org!r}"}])
    if not org.path.startswith(scope_path):
        from services.errors import Forbidden

        raise Forbidden(f"org {f.org!r} is outside this account's scope")
    return org.path, org.id


def check_scope(session: Session, f: LedgerFilter, scope_path: str) -> None:
    """Raise now (404/403) for an unknown or out-of-scope org: a streamed export cannot later."""
    _scope_path(session, f, scope_path)


def _conditions(f: LedgerFilter, path: str, org_id: str | None) -> list[Any]:
    P = Problem
    cond: list[Any] = [P.org_path.like(like_prefix(path), escape="\\")]  # type: ignore[attr-defined]
    if org_id is not None and not f.subtree:
        cond.append(P.org_id == org_id)
    if f.cycle is not None:
        cond.append(P.cycle_id == f.cycle)
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


def _order(f: LedgerFilter) -> list[Any]:
    desc = f.sort.startswith("-")
    key = SortKey(f.sort.removeprefix("-"))
    P = Problem
    column: Any = {
        SortKey.due: P.due,
        SortKey.opened: P.opened_at,
        SortKey.org: P.org_path,
        SortKey.severity: P.severity_rank,
        SortKey.overdue_level: P.overdue_level,
    }[key]
    primary = column.desc() if desc else column.asc()
    nulls = column.is_(None)  # rows without a due date sort last either way
    return [nulls, primary, P.id.asc()]  # type: ignore[attr-defined]


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
    end = closed or end_of_day(today, tz)
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


# --- point in time --------------------------------------------------------------------------


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
                col(AuditEvent.action) != "escalate",
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


# --- public entry points --------------------------------------------------------------------


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
    cutoff = end_of_day(today, tz)
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
    if f.as_of is not None:
        rows = list(iter_ledger(session, f, scope_path, tz))
        return rows[offset : offset + limit], len(rows)
    stmt = live_query(session, f, scope_path)
    total = session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    ).scalar_one()
    today = datetime.now(ZoneInfo(tz)).date()
    page = session.execute(stmt.offset(offset).limit(limit)).all()
    return [_row(p, name, today, tz) for p, name in page], int(total)


# --- statistics -----------------------------------------------------------------------------


class Stats(BaseModel):
    total: int
    by_state: dict[str, int]
    open: int
    overdue: int
    overdue_by_level: dict[str, int]
    overdue_aging: dict[str, int]
    closed: int
    closed_on_time: int
    on_time_closure_rate: float | None
    days_to_close_mean: float | None
    days_to_close_median: float | None
    days_to_close_p90: float | None


class OrgStats(Stats):
    org_id: str
    org_name: str


class StatsReport(BaseModel):
    org_id: str | None
    cycle_id: str | None
    as_of: date
    overall: Stats
    by_child_org: list[OrgStats]


class StatRow(NamedTuple):
    """The few fields statistics need: read as plain tuples, not ORM objects (100k rows)."""

    org_path: str
    state: str
    due: date | None
    opened: datetime
    closed: datetime | None
    overdue_level: int
    on_time: bool | None


def _stat_rows(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, today: date
) -> list[StatRow]:
    if f.as_of is not None:
        return [
            StatRow(r.org_path, r.state, r.due, r.opened, r.closed, r.overdue_level, r.on_time)
            for r in iter_ledger(session, f, scope_path, tz)
        ]
    path, org_id = _scope_path(session, f, scope_path)
    P = Problem
    cols = select(
        col(P.org_path),
        col(P.state),
        col(P.due),
        col(P.opened_at),
        col(P.closed_at),
        col(P.overdue_level),
    )
    out = []
    for org_path, state, due, opened, closed, level in session.execute(
        _filtered(cols, f, path, org_id)
    ):
        opened_utc, closed_utc = _aware(opened), _aware(closed)
        assert opened_utc is not None
        out.append(
            StatRow(
                org_path,
                state,
                due,
                opened_utc,
                closed_utc,
                level,
                on_time(state, due, closed_utc, today, tz),
            )
        )
    return out


def _stats(rows: list[StatRow], today: date) -> Stats:
    by_state: dict[str, int] = {}
    aging = {name: 0 for name, _, _ in AGING_BUCKETS}
    levels: dict[str, int] = {}
    closed_days: list[float] = []
    closed_on_time = open_ = overdue = 0
    for r in rows:
        by_state[r.state] = by_state.get(r.state, 0) + 1
        if r.state in OPEN_STATES:
            open_ += 1
            if r.due is not None and today > r.due:
                overdue += 1
                bucket = aging_bucket((today - r.due).days)
                if bucket:
                    aging[bucket] += 1
            if r.overdue_level:
                levels[str(r.overdue_level)] = levels.get(str(r.overdue_level), 0) + 1
        elif r.state == "closed" and r.closed is not None:
            closed_days.append((r.closed - r.opened).total_seconds() / 86400)
            closed_on_time += 1 if r.on_time else 0
    closed = len(closed_days)
    med, p90, avg = percentile(closed_days, 50), percentile(closed_days, 90), mean(closed_days)
    return Stats(
        total=len(rows),
        by_state=dict(sorted(by_state.items())),
        open=open_,
        overdue=overdue,
        overdue_by_level=dict(sorted(levels.items())),
        overdue_aging=aging,
        closed=closed,
        closed_on_time=closed_on_time,
        on_time_closure_rate=rate(closed_on_time, closed),
        days_to_close_mean=round(avg, 2) if avg is not None else None,
        days_to_close_median=round(med, 2) if med is not None else None,
        days_to_close_p90=round(p90, 2) if p90 is not None else None,
    )


def stats_report(session: Session, f: LedgerFilter, scope_path: str, tz: str) -> StatsReport:
    """Overall figures for the filtered ledger, and the same per child org, ranked worst first."""
    today = f.as_of or datetime.now(ZoneInfo(tz)).date()
    rows = _stat_rows(session, f, scope_path, tz, today)
    _, org_id = _scope_path(session, f, scope_path)
    # Broken down by the children of the requested org, or of the caller's own scope org.
    parent = org_id or (scope_path.strip("/").split("/")[-1] if scope_path != "/" else None)
    if parent is not None:
        children = list(session.execute(select(Org).where(col(Org.parent_id) == parent)).scalars())
    else:  # an installation-wide admin: the roots
        children = list(session.execute(select(Org).where(col(Org.depth) == 0)).scalars())
    per_child: list[OrgStats] = []
    for child in children:
        mine = [r for r in rows if r.org_path.startswith(child.path)]
        s = _stats(mine, today)
        per_child.append(OrgStats(org_id=child.id, org_name=child.name, **s.model_dump()))
    # Ranked worst first: most overdue, then the lowest on-time rate, then most open.
    per_child.sort(
        key=lambda s: (
            -s.overdue,
            s.on_time_closure_rate if s.on_time_closure_rate is not None else 2.0,
            -s.open,
            s.org_id,
        )
    )
    return StatsReport(
        org_id=org_id or parent,
        cycle_id=f.cycle,
        as_of=today,
        overall=_stats(rows, today),
        by_child_org=per_child,
    )
