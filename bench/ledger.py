"""Auditor queries over a large ledger, on SQLite and PostgreSQL.

    uv run python -m bench.ledger --rows 100000

Loads N rectifications with their event history (a valid hash chain, ~6 events each: the steps
and the escalations of the overdue levels reached, with the periods they make) into a fresh
SQLite file and, where initdb exists, a throwaway PostgreSQL cluster; then times the typical
auditor queries and prints p50/p99 for each, the export's rows/s and memory, and one `audit
verify` of it all, which finds the read model consistent with the chain.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.downloads import LEDGER_COLUMNS
from bench.harness import PeakRss, run_main
from services.audit.chain import AuditChainHead, AuditEvent, event_hash
from services.core.db import make_engine
from services.integrity.drift import integrity_report
from services.ledger.aggregates import percentile
from services.ledger.export import csv_stream, xlsx_stream
from services.ledger.filters import LedgerFilter
from services.ledger.keyset import cursor_of, page_after, page_before
from services.ledger.queries import iter_ledger, ledger_page
from services.ledger.stats import stats_report
from services.org.models import Org
from services.rectification.contracts import SEVERITY_RANK, Severity
from services.rectification.history import ProblemPeriod, periods_from_events
from services.rectification.models import Problem
from services.rectification.store import closing_figures
from services.schema import migrate
from tests.support.postgres import PostgresCluster, postgres_available

TZ = "Asia/Shanghai"
GENERAL_BRANCHES, BRANCHES_EACH = 10, 10
FLOW = ["assigned", "plan_submitted", "in_progress", "completion_submitted", "closed"]
ACTIONS = {
    "assigned": "confirm",
    "plan_submitted": "plan",
    "in_progress": "approve-plan",
    "completion_submitted": "completion",
    "closed": "verify",
    "dismissed": "dismiss",
}
UNOWNED = ("identified", "dismissed")  # an owner comes with confirmation; a dismissal has none


def org_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        dict(id="city", name="City", kind="committee", parent_id=None, path="/city/", depth=0)
    ]
    for g in range(GENERAL_BRANCHES):
        gid = f"gb-{g}"
        rows.append(
            dict(
                id=gid,
                name=f"GB {g}",
                kind="general_branch",
                parent_id="city",
                path=f"/city/{gid}/",
                depth=1,
            )
        )
        for b in range(BRANCHES_EACH):
            bid = f"{gid}-b{b}"
            rows.append(
                dict(
                    id=bid,
                    name=f"Branch {g}.{b}",
                    kind="branch",
                    parent_id=gid,
                    path=f"/city/{gid}/{bid}/",
                    depth=2,
                )
            )
    now = datetime.now(UTC)
    for r in rows:
        r.update(head_person_id=None, created_at=now)
    return rows


def load(engine: Engine, n: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    started = time.perf_counter()
    branches = [r for r in org_rows() if r["depth"] == 2]
    with engine.begin() as conn:
        conn.execute(insert(Org), org_rows())
    start = datetime(2025, 1, 1, 4, tzinfo=UTC)
    today = date.today()
    prev, seq = "0" * 64, 0
    problems: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    periods: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            if problems:
                conn.execute(insert(Problem), problems)
            if events:
                conn.execute(insert(AuditEvent), events)
            if periods:
                conn.execute(insert(ProblemPeriod), periods)
        problems.clear()
        events.clear()
        periods.clear()

    for i in range(n):
        org = rng.choice(branches)
        opened = start + timedelta(minutes=rng.randrange(0, 660 * 24 * 60))
        due = (opened + timedelta(days=rng.choice([15, 30, 60]))).date()
        roll = rng.random()
        if roll < 0.1:
            path = ["dismissed"]
        else:
            path = FLOW[: rng.randint(0, len(FLOW))] if roll < 0.6 else FLOW
        state = path[-1] if path else "identified"
        pid = f"P-{i:08d}"
        severity = rng.choice(list(Severity))
        times: list[datetime] = []  # each step 1 to 12 days after the one before
        for _ in path:
            times.append((times[-1] if times else opened) + timedelta(days=rng.uniform(1, 12)))
        closed = times[-1] if state in ("closed", "dismissed") else None
        open_ = state not in ("closed", "dismissed")
        level = min(4, max(0, (today - due).days // 7)) if open_ and today > due else 0
        close_days, closed_on_time = closing_figures(state, opened, closed, due, TZ)
        problems.append(
            dict(
                id=pid,
                org_id=org["id"],
                org_path=org["path"],
                cycle_id=f"city-{opened.year}",
                item_id=None,
                source=rng.choice(
                    ["inspection", "evaluation", "indicator", "supervision", "self_check", "audit"]
                ),
                category=rng.choice(
                    ["ideology", "organization", "conduct", "integrity", "institutions"]
                ),
                severity=severity.value,
                severity_rank=SEVERITY_RANK[severity],
                title=f"Problem {i} {rng.choice(['minutes', 'receipts', 'study', 'letters', 'funds'])}",
                description="generated",
                state=state,
                owner_person_id=None if state in UNOWNED else "p-1",
                verifier_person_id="p-2" if state == "closed" else None,
                due=due,
                opened_at=opened,
                closed_at=closed,
                close_days=close_days,
                closed_on_time=closed_on_time,
                overdue_level=level,
                extension_pending=False,
                requested_due=None,
                recheck_due=None,
                recheck_open=False,
                progress_percent=100 if state == "closed" else 0,
                plan=None,
                version=len(path) + 1,
                created_by="bench",
                updated_at=opened,
            )
        )
        history = _history(opened, due, path, times, level)
        for k, (action, payload, at) in enumerate(history):
            seq += 1
            h = event_hash(
                prev,
                seq=seq,
                actor="bench",
                action=action,
                entity_type="problem",
                entity_id=pid,
                org_path=org["path"],
                payload=payload,
                at=at,
            )
            events.append(
                dict(
                    seq=seq,
                    idempotency_key=f"rect:{pid}:{k}",
                    actor="bench",
                    action=action,
                    entity_type="problem",
                    entity_id=pid,
                    org_path=org["path"],
                    payload=payload,
                    at=at,
                    prev_hash=prev,
                    hash=h,
                )
            )
            prev = h
        # The periods the steps and escalations would have written: what the drift check
        # rebuilds from these events, so `audit verify` finds the data consistent.
        periods.extend({**p, "problem_id": pid} for p in periods_from_events(history))
        if len(problems) >= 5000:
            flush()
    flush()
    with engine.begin() as conn:
        conn.execute(update(AuditChainHead).values(seq=seq, last_hash=prev))
    return time.perf_counter() - started


def settle(engine: Engine) -> None:
    """On PostgreSQL, leave the loaded tables as autovacuum leaves a table in service:
    statistics, and the visibility map that lets the statistics' covering indexes be read
    without the table (right after a bulk load every index-only scan still visits the heap,
    and autovacuum starting mid-run shows up as the p99). SQLite needs nothing."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def _history(
    opened: datetime, due: date, path: list[str], times: list[datetime], level: int
) -> list[tuple[str, dict[str, Any], datetime]]:
    """A problem's audit events in time order, each (action, payload, at): its steps, each
    with the fields it set (an owner from confirmation on, none if dismissed), and an
    escalation a week apart for each overdue level it has reached (its row's level)."""
    steps = [
        ("flag", opened, "identified"),
        *((ACTIONS[s], t, s) for s, t in zip(path, times, strict=True)),
    ]
    history: list[tuple[str, dict[str, Any], datetime]] = [
        (
            action,
            {
                "state": state,
                "due": due.isoformat(),
                "owner": None if state in UNOWNED else "p-1",
                "extension_pending": False,
            },
            at,
        )
        for action, at, state in steps
    ]
    for k in range(1, level + 1):
        at = datetime.combine(due + timedelta(days=7 * k), dt_time(1), tzinfo=UTC)
        history.append(("escalate", {"due": due.isoformat(), "overdue_level": k}, at))
    # Whole seconds, as the chain records its events' times.
    return [(a, p, at.replace(microsecond=0)) for a, p, at in sorted(history, key=lambda e: e[2])]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """The first run on its own (cold: right after the bulk load, or the query's first in the
    process), then p50 and p99 of ``repeat`` runs after it."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    xs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    return first, percentile(xs, 50) or 0.0, percentile(xs, 99) or 0.0


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    return csv_stream(LEDGER_COLUMNS, rows, "en")


def _xlsx(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    return xlsx_stream(LEDGER_COLUMNS, rows, "zh", "整改台账")


EXPORTS: list[tuple[str, Callable[[Iterator[dict[str, Any]]], Iterator[bytes]]]] = [
    ("csv", _csv),
    ("xlsx", _xlsx),
]


def run_queries(engine: Engine, n: int, repeat: int) -> list[str]:
    lines = []

    def q(name: str, fn: Callable[[Session], Any], times: int = repeat) -> None:
        with Session(engine) as s:
            first, p50, p99 = timed(lambda: fn(s), times)
        lines.append(
            f"  {name:<44} p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"
            f"   (first run {first * 1000:.1f} ms)"
        )

    subtree = LedgerFilter(
        org="gb-3", state=["assigned", "plan_submitted", "in_progress"], overdue="any"
    )
    q("subtree + state + overdue (page 1 of 50)", lambda s: ledger_page(s, subtree, "/", TZ, 0, 50))
    q(
        "whole ledger, page 1 (sorted by due)",
        lambda s: ledger_page(s, LedgerFilter(), "/", TZ, 0, 50),
    )
    deep = (n // 2 // 50) * 50
    q(
        f"whole ledger, deep page (offset {deep})",
        lambda s: ledger_page(s, LedgerFilter(), "/", TZ, deep, 50),
    )
    whole = LedgerFilter()
    [mid], _ = ledger_page(Session(engine), whole, "/", TZ, deep - 1, 1)
    cursor = cursor_of(whole, mid)
    q(
        f"whole ledger, keyset page after row {deep}",  # with the total, as the API answers
        lambda s: page_after(s, whole, "/", TZ, cursor, 50),
    )
    q(
        f"whole ledger, keyset page before row {deep}",  # the console's previous page
        lambda s: page_before(s, whole, "/", TZ, cursor, 50),
    )
    q(
        "text search 'receipts' in a subtree",
        lambda s: ledger_page(s, LedgerFilter(org="gb-1", q="receipts"), "/", TZ, 0, 50),
    )
    q("stats for the whole tree", lambda s: stats_report(s, LedgerFilter(), "/", TZ))
    q("stats for one general branch", lambda s: stats_report(s, LedgerFilter(org="gb-2"), "/", TZ))
    year_end = date(2025, 12, 31)
    q(
        "as_of 2025-12-31, one branch",
        lambda s: ledger_page(s, LedgerFilter(org="gb-4-b4", as_of=year_end), "/", TZ, 0, 50),
    )
    q(
        "as_of 2025-12-31, one general branch",
        lambda s: ledger_page(s, LedgerFilter(org="gb-2", as_of=year_end), "/", TZ, 0, 50),
    )
    q(
        "as_of 2025-12-31, whole ledger, page 1",
        lambda s: ledger_page(s, LedgerFilter(as_of=year_end), "/", TZ, 0, 50),
    )
    q(
        "as_of 2025-12-31, closed, page 1",
        lambda s: ledger_page(s, LedgerFilter(as_of=year_end, state=["closed"]), "/", TZ, 0, 50),
    )
    q(
        "stats as_of 2025-12-31, whole tree",
        lambda s: stats_report(s, LedgerFilter(as_of=year_end), "/", TZ),
    )

    for fmt, stream in EXPORTS:
        with Session(engine) as s, PeakRss(os.getpid()) as rss:
            baseline = psutil.Process().memory_info().rss / 2**20
            t0 = time.perf_counter()
            size = 0
            for block in stream(r.model_dump() for r in iter_ledger(s, LedgerFilter(), "/", TZ)):
                size += len(block)
            dt = time.perf_counter() - t0
        lines.append(
            f"  {'export.' + fmt + ', whole ledger':<44} {n} rows in {dt:.1f} s ({n / dt:,.0f} rows/s), "
            f"{size / 2**20:.1f} MiB file, process RSS +{max(0.0, rss.peak - baseline):.0f} MiB over {baseline:.0f} MiB"
        )
    with Session(engine) as s:  # what `dutyledger audit verify` does, without checkpoints
        t0 = time.perf_counter()
        report = integrity_report(s)
        dt = time.perf_counter() - t0
    verdict = "ok" if report.ok else f"NOT OK: {report.problem}"
    lines.append(
        f"  {'audit verify (the chain, then drift)':<44} {report.events_checked:,} events in "
        f"{dt:.1f} s ({report.events_checked / dt:,.0f} events/s), {verdict}"
    )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dl-bench-ledger-"))
    targets: list[tuple[str, str]] = [("SQLite", f"sqlite:///{tmp / 'ledger.db'}")]
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        if not args.no_postgres and postgres_available():
            cluster = PostgresCluster()
            cluster.start()
            stack.callback(cluster.stop)
            targets.append(("PostgreSQL", stack.enter_context(cluster.database())))
        for name, url in targets:
            engine = make_engine(url)
            migrate(engine)
            secs = load(engine, args.rows)
            print(f"{name}: loaded {args.rows:,} rectifications with events in {secs:.1f} s")
            settle(engine)
            for line in run_queries(engine, args.rows, args.repeat):
                print(line, flush=True)
            engine.dispose()


if __name__ == "__main__":
    run_main(main)
