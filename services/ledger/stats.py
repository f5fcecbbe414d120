"""Ledger statistics: counts by state, overdue aging, on-time rate, days to close, and the
same per child org, ranked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Integer, func, literal_column, select
from sqlalchemy.orm import Session
from sqlmodel import col

from services.core.db import raw_rows, sqlite_read_snapshot
from services.ledger.aggregates import AGING_BUCKETS, aging_bucket, mean, percentile, rate
from services.ledger.filters import LedgerFilter
from services.ledger.queries import _filtered, _scope_path, matching
from services.org.models import Org
from services.rectification.history import ProblemPeriod
from services.rectification.models import OPEN_STATES, Problem
from services.rectification.rules import RectState
from services.rectification.store import closing_figures


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


@dataclass
class Tally:
    """The figures of one set of rectifications, fed with groups of rows (the live view's
    aggregate queries) or one row at a time (the ``as_of`` view)."""

    total: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    open: int = 0
    overdue: int = 0
    aging: Counter[str] = field(default_factory=Counter)
    levels: Counter[str] = field(default_factory=Counter)
    closed_days: list[float] = field(default_factory=list)
    closed_on_time: int = 0

    def add(self, state: str, level: int, aging: str | None) -> None:
        """One row; ``aging``: its bucket when it is open past its due day."""
        self.add_counts(state, level, 1, 1 if aging else 0, {aging: 1} if aging else {})

    def add_counts(self, state: str, level: int, n: int, late: int, aging: dict[str, int]) -> None:
        """``n`` rows in ``state`` at overdue ``level``, ``late`` of them past their due day
        (counted only while open), by ``aging`` bucket."""
        self.total += n
        self.by_state[state] += n
        if state in OPEN_STATES:
            self.open += n
            self.overdue += late
            self.aging.update(aging)
            if level:
                self.levels[str(level)] += n

    def add_closed(self, days: list[float], on_time: int) -> None:
        """Closed rows: their days to close, and how many of them closed on time."""
        self.closed_days.extend(days)
        self.closed_on_time += on_time

    def stats(self) -> Stats:
        closed = len(self.closed_days)
        days = sorted(self.closed_days)  # SQLite's runs come sorted per org: a merge, in effect
        med, p90 = percentile(days, 50, presorted=True), percentile(days, 90, presorted=True)
        avg = mean(days)
        return Stats(
            total=self.total,
            by_state=dict(sorted(self.by_state.items())),
            open=self.open,
            overdue=self.overdue,
            overdue_by_level=dict(sorted(self.levels.items())),
            overdue_aging={name: self.aging[name] for name, _, _ in AGING_BUCKETS},
            closed=closed,
            closed_on_time=self.closed_on_time,
            on_time_closure_rate=rate(self.closed_on_time, closed),
            days_to_close_mean=round(avg, 2) if avg is not None else None,
            days_to_close_median=round(med, 2) if med is not None else None,
            days_to_close_p90=round(p90, 2) if p90 is not None else None,
        )


_INNER = [name for name, _, hi in AGING_BUCKETS if hi]  # the buckets with an upper bound
# Every state a row can have (its workflow writes only these), each a range of the index.
_OPEN = sorted(OPEN_STATES)
_DONE = sorted(s.value for s in RectState if s.value not in OPEN_STATES)


class Tallies:
    """One Tally for everything and one per child org, found by the org path's prefix."""

    def __init__(self, children: list[Org]) -> None:
        self.overall = Tally()
        self.children = children
        self.of_child = {c.id: Tally() for c in children}
        self._key_of: dict[str, str] = {}

    def key_of(self, org_path: str) -> str:
        """The id of the child org whose subtree holds ``org_path``; "" for none."""
        if org_path not in self._key_of:
            found = [c.id for c in self.children if org_path.startswith(c.path)]
            self._key_of[org_path] = found[0] if found else ""
        return self._key_of[org_path]

    def by_key(self, key: str) -> list[Tally]:
        return [self.overall, self.of_child[key]] if key else [self.overall]

    def of(self, org_path: str) -> list[Tally]:
        return self.by_key(self.key_of(org_path))


def _tally_live(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, today: date, into: Tallies
) -> None:
    """Aggregate scans read from covering indexes alone (on SQLite in one snapshot): counts by
    state, org, level and lateness; then the closed rows' kept figures (days to close, on
    time)."""
    path, org_id = _scope_path(session, f, scope_path)
    with sqlite_read_snapshot(session):
        closed_rows = _tally_counts(session, f, path, org_id, today, into)
        kept = 0
        for org_path, days, on_time in _closed_by_org(session, f, path, org_id):
            kept += len(days)
            for t in into.of(org_path):
                t.add_closed(days, on_time)
        if kept != closed_rows:
            _tally_unkept(session, f, path, org_id, tz, into)


def _tally_unkept(
    session: Session, f: LedgerFilter, path: str, org_id: str | None, tz: str, into: Tallies
) -> None:
    """Rows closed by a worker older than the kept figures (a rolling upgrade): computed here."""
    P = Problem
    unkept = select(col(P.org_path), col(P.due), col(P.opened_at), col(P.closed_at)).where(
        col(P.state) == "closed", col(P.close_days).is_(None), col(P.closed_at).is_not(None)
    )
    for org_path, due, opened, closed_at in session.execute(_filtered(unkept, f, path, org_id)):
        figure, in_time = closing_figures("closed", opened, closed_at, due, tz)
        assert figure is not None
        for t in into.of(org_path):
            t.add_closed([figure], 1 if in_time else 0)


def _tally_counts(
    session: Session, f: LedgerFilter, path: str, org_id: str | None, today: date, into: Tallies
) -> int:
    """Counts by state, org and level, and the open rows' lateness; returns the closed rows'.
    Two scans of the index led by the state: lateness is counted over the open states' ranges
    alone, as counts of rows due before each bucket's first day in the same streamed group (a
    CASE to group by would sort all the rows; buckets are differences of them). The rows are
    summed per child org first, so the tallies take a few hundred groups, not one per org."""
    P = Problem
    cuts = [today] + [today - timedelta(days=hi) for _, _, hi in AGING_BUCKETS if hi]
    lateness = [func.count().filter(col(P.due) < cut) for cut in cuts]
    open_counts = select(
        col(P.state), col(P.org_path), col(P.overdue_level), func.count(), *lateness
    ).where(col(P.state).in_(_OPEN))
    done_counts = select(
        col(P.state), col(P.org_path), literal_column("0", Integer), func.count()
    ).where(col(P.state).in_(_DONE))
    # (child, state, level) -> [rows, rows due before each cut]
    sums: dict[tuple[str, str, int], list[int]] = {}
    scans: list[tuple[Any, list[Any]]] = [(open_counts, [col(P.overdue_level)]), (done_counts, [])]
    for stmt, by in scans:
        grouped = _filtered(stmt, f, path, org_id).group_by(col(P.state), col(P.org_path), *by)
        for state, org_path, level, *figures in raw_rows(session, grouped):
            summed = sums.setdefault((into.key_of(org_path), state, level), [0] * (1 + len(cuts)))
            for i, figure in enumerate(figures):
                summed[i] += figure
    closed_rows = 0
    for (child, state, level), (n, *due_before) in sums.items():
        closed_rows += n if state == "closed" else 0
        aging = {name: due_before[i] - due_before[i + 1] for i, name in enumerate(_INNER)}
        aging[AGING_BUCKETS[-1][0]] = due_before[-1]
        for t in into.by_key(child):
            t.add_counts(state, level, n, due_before[0], aging)
    return closed_rows


def _closed_by_org(
    session: Session, f: LedgerFilter, path: str, org_id: str | None
) -> Iterator[tuple[str, list[float], int]]:
    """Per org path: the closed rows' days to close and how many closed on time. PostgreSQL
    gathers each org's days into one array; SQLite counts them per org, then reads the days
    alone in index order (by org, then days: each org's arrive sorted) and cuts them by the
    counts, in the caller's snapshot (``sqlite_read_snapshot``)."""
    P = Problem
    closed = col(P.state) == "closed", col(P.close_days).is_not(None)
    on_time = func.count().filter(P.closed_on_time.is_(True))  # type: ignore[union-attr]
    if session.get_bind().dialect.name == "postgresql":
        arrays = select(col(P.org_path), func.array_agg(col(P.close_days)), on_time)
        arrays = _filtered(arrays.where(*closed), f, path, org_id).group_by(col(P.org_path))
        for org_path, days, in_time in raw_rows(session, arrays, binary=True):
            yield org_path, days, in_time
        return
    counts = select(col(P.org_path), func.count(), on_time).where(*closed)
    counts = _filtered(counts, f, path, org_id).group_by(col(P.state), col(P.org_path))
    per_org = raw_rows(session, counts.order_by(col(P.state), col(P.org_path)))
    in_order = _filtered(select(col(P.close_days)).where(*closed), f, path, org_id).order_by(
        col(P.state), col(P.org_path), col(P.close_days)
    )
    days = [d for (d,) in raw_rows(session, in_order)]
    start = 0
    for org_path, n, in_time in per_org:
        yield org_path, days[start : start + n], in_time
        start += n


def _tally_as_of(
    session: Session, f: LedgerFilter, scope_path: str, tz: str, today: date, into: Tallies
) -> None:
    """Row by row, from each problem's period valid at the end of ``today``: what the live
    aggregates count, by the same rules (closed: when its period began, as the ledger as of a
    day shows it, ``services.ledger.as_of``)."""
    path, org_id = _scope_path(session, f, scope_path)
    P, PP = Problem, ProblemPeriod
    stmt = select(
        col(P.org_path),
        col(PP.state),
        col(PP.due),
        col(PP.overdue_level),
        col(PP.valid_from),
        col(P.opened_at),
    )
    for org_path, state, due, level, began, opened in session.execute(
        matching(stmt, f, path, org_id, tz)
    ):
        late = state in OPEN_STATES and due is not None and today > due
        bucket = aging_bucket((today - due).days) if late and due is not None else None
        days, in_time = closing_figures(state, opened, began, due, tz)
        for t in into.of(org_path):
            t.add(state, level, bucket)
            if days is not None:
                t.add_closed([days], 1 if in_time else 0)


def stats_report(session: Session, f: LedgerFilter, scope_path: str, tz: str) -> StatsReport:
    """Overall figures for the filtered ledger, and the same per child org, ranked worst first."""
    today = f.as_of or datetime.now(ZoneInfo(tz)).date()
    _, org_id = _scope_path(session, f, scope_path)
    # Broken down by the children of the requested org, or of the caller's own scope org.
    parent = org_id or (scope_path.strip("/").split("/")[-1] if scope_path != "/" else None)
    if parent is not None:
        children = list(session.execute(select(Org).where(col(Org.parent_id) == parent)).scalars())
    else:  # an installation-wide admin: the roots
        children = list(session.execute(select(Org).where(col(Org.depth) == 0)).scalars())
    tallies = Tallies(children)
    tally = _tally_live if f.as_of is None else _tally_as_of
    tally(session, f, scope_path, tz, today, tallies)
    per_child: list[OrgStats] = []
    for child in children:
        s = tallies.of_child[child.id].stats()
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
        overall=tallies.overall.stats(),
        by_child_org=per_child,
    )
