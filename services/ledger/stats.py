"""Ledger statistics: counts by state, overdue aging, on-time rate, days to close, and the
same per child org, ranked.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from services.ledger.aggregates import AGING_BUCKETS, aging_bucket, mean, percentile, rate
from services.ledger.filters import LedgerFilter
from services.ledger.queries import _aware, _filtered, _scope_path, iter_ledger, on_time
from services.org.models import Org
from services.rectification.models import OPEN_STATES, Problem


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
