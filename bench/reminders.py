"""Deadline timers at scale on the embedded default: N open rectifications, then their deadline.

    uv run python -m bench.reminders --problems 10000 [--workers 2] [--no-raw]

Deadlines are whole days (the end of the due day in the configured timezone) and reminders are
whole days before it, so no honest set of staggered due dates fires inside a benchmark run.
What this does instead, with nothing faked: it picks the timezone whose next midnight comes
soonest after the problems can be flagged, runs the stack in it (``DUTYLEDGER_TIMEZONE``), and
flags N problems due *today* there. Their reminders are already past when armed (dropped, by
design); the first escalation of every one of them falls due at the same instant, the end of
today in that zone — the harshest case: N timers firing in the same second. Each escalation
writes its notification (with the slot's scheduled instant and the instant the workflow's timer
fired), an audit event and the overdue level, so the lag of each is read from the read model:

- timer lag = fired_at (the workflow's clock when its timer fired) - scheduled_for;
- delivered lag = created_at (the notification row's commit) - scheduled_for.

Prints the flagging rate, the worker's RSS with N open workflows at rest, p50/p99/max of both
lags and the time until the last escalation was written. First, unless ``--no-raw``, the same
burst's server round trips as a minimal raw-Temporal program on a fresh dev server
(bench/raw_reminders.py), and the ratio of the two drain rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import httpx
import psutil
from sqlalchemy import create_engine, text

from bench.harness import PeakRss, embedded_stack, run_main
from bench.raw_reminders import run_on_fresh_server
from services.accounts.models import Role
from services.demo import demo_tree
from services.ledger.aggregates import percentile


def soonest_midnight(after: datetime) -> tuple[str, datetime]:
    """The zone whose end of the local day (23:59:59) comes first after ``after``."""
    best: tuple[str, datetime] | None = None
    for name in sorted(available_timezones()):
        if not name.startswith(("Etc/", "Asia/", "Europe/", "America/", "Pacific/", "Australia/")):
            continue
        local = after.astimezone(ZoneInfo(name))
        end = local.replace(hour=23, minute=59, second=59, microsecond=0)
        if end <= local:
            end = (local + timedelta(days=1)).replace(hour=23, minute=59, second=59)
        at = end.astimezone(UTC)
        if best is None or at < best[1]:
            best = (name, at)
    assert best is not None
    return best


async def run(n: int, concurrency: int, setup_rate: float, workers: int, raw: bool) -> None:
    baseline = await run_on_fresh_server(n, concurrency) if raw else None
    if baseline is not None:
        print(
            "raw Temporal (bench/raw_reminders.py, same round trips, fresh dev server): "
            + baseline.summary()
        )
        if baseline.cpu is not None:
            print("  " + baseline.cpu.per(len(baseline.lags), "slot (the burst only)"))
    # Flagging runs at roughly ``setup_rate`` problems/s; leave a margin before the deadline.
    ready_by = datetime.now(UTC) + timedelta(seconds=90 + n / setup_rate)
    zone, deadline = soonest_midnight(ready_by)
    os.environ["DUTYLEDGER_TIMEZONE"] = zone  # the stack's processes inherit it
    today = deadline.astimezone(ZoneInfo(zone)).date()
    print(
        f"timezone {zone}: deadline {deadline:%H:%M:%S} UTC "
        f"({(deadline - datetime.now(UTC)).total_seconds() / 60:.1f} min from now), due {today}"
    )
    async with (
        embedded_stack(workers=workers) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=120) as http,
    ):
        r = await http.post(
            "/api/v1/orgs/import",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
            json=demo_tree().model_dump(),
        )
        r.raise_for_status()
        committee = {"Authorization": f"Bearer {stack.token(Role.committee, 'city', 'p-001')}"}
        orgs = [o.id for o in demo_tree().orgs]
        gate = asyncio.Semaphore(concurrency)

        async def flag(i: int) -> None:
            async with gate:
                r = await http.post(
                    "/api/v1/problems",
                    headers={**committee, "Idempotency-Key": f"bench-{i}"},
                    json={
                        "org_id": orgs[i % len(orgs)],
                        "source": "inspection",
                        "category": "conduct",
                        "severity": "major",
                        "title": f"Bench problem {i}",
                        "due": today.isoformat(),
                    },
                )
                if r.status_code != 201:
                    raise RuntimeError(f"flag {i}: {r.status_code} {r.text[:300]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(flag(i) for i in range(n)))
        flagging = time.perf_counter() - t0
        print(f"flagged {n} problems in {flagging:.1f} s = {n / flagging:.1f}/s")
        if datetime.now(UTC) >= deadline:
            raise RuntimeError("flagging ran past the deadline; lower --setup-rate and rerun")
        await asyncio.sleep(10)
        at_rest = sum(psutil.Process(w.pid).memory_info().rss for w in stack.workers) / 2**20
        print(
            f"worker RSS with {n} open rectification workflows at rest: {at_rest:.0f} MiB "
            f"({workers} worker process(es) together)"
        )

        engine = create_engine(stack.settings.resolved_database_url)
        query = text(
            "SELECT scheduled_for, fired_at, created_at FROM notifications "
            "WHERE kind = 'escalation'"
        )
        with PeakRss(stack.worker.pid) as rss:
            wait = (deadline - datetime.now(UTC)).total_seconds()
            print(f"waiting {wait:.0f} s for the deadline …")
            await asyncio.sleep(max(0.0, wait))
            rows: list[tuple[datetime, datetime, datetime]] = []
            quiet_since = time.monotonic()
            with stack.cpu_time() as cpu:  # the burst alone: from the deadline until drained
                while len(rows) < n and time.monotonic() - quiet_since < 300:
                    await asyncio.sleep(2)
                    with engine.connect() as conn:
                        got = [(_utc(a), _utc(b), _utc(c)) for a, b, c in conn.execute(query)]
                    if len(got) > len(rows):
                        quiet_since = time.monotonic()
                    rows = got
        engine.dispose()

    def ms(xs: list[float]) -> str:
        p50, p99 = percentile(xs, 50) or 0, percentile(xs, 99) or 0
        return f"p50 {p50 * 1000:9.0f} ms  p99 {p99 * 1000:9.0f} ms  max {max(xs) * 1000:9.0f} ms"

    timer = [(f - s).total_seconds() for s, f, _ in rows]
    delivered = [(c - s).total_seconds() for s, _, c in rows]
    print(f"escalations fired: {len(rows)} of {n} (one per problem, all due at the same instant)")
    if rows:
        print(f"  timer lag (fired_at - scheduled)       {ms(timer)}")
        print(f"  delivered lag (row written - scheduled) {ms(delivered)}")
        rate = len(rows) / max(max(delivered), 1e-9)
        print(
            f"  last escalation written {max(delivered):.1f} s after the deadline "
            f"= {rate:.0f} escalations/s"
        )
        print("  " + cpu.per(len(rows), "escalation (the burst only)"))
        if baseline is not None:
            print(f"ratio to raw: drain rate {rate / baseline.rate:.2f}")
    which = "the worker" if workers == 1 else "the first of the workers"
    print(f"peak RSS of {which} during the burst: {rss.peak:.0f} MiB")


def _utc(v: datetime | str) -> datetime:
    dt = datetime.fromisoformat(v) if isinstance(v, str) else v
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--setup-rate", type=float, default=20.0, help="expected flags/s (planning)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw-Temporal baseline")
    args = ap.parse_args()
    asyncio.run(
        run(args.problems, args.concurrency, args.setup_rate, args.workers, not args.no_raw)
    )


if __name__ == "__main__":
    run_main(main)
