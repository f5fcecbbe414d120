"""The engine's own pace for a deadline burst: a minimal raw-Temporal program doing the server
round trips of ``bench.reminders`` with nothing else (no database, no HTTP API).

    uv run python -m bench.raw_reminders --problems 10000

N workflows each sleep until the same instant, then fire one local activity (which only notes
the time) and start the timer for their next slot, as a rectification's ``DeadlineWatch`` does.
The worker caches as many workflows as dutyledger's (``DUTYLEDGER_WORKER_CACHED_WORKFLOWS``).
``bench.reminders`` runs this first on a fresh dev server of the same kind and prints
dutyledger's ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.worker import Worker

from bench.harness import CpuTime, RawServer, fresh_dev_server, run_main
from bench.raw_watch_workflow import RawWatch
from services.core.settings import Settings
from services.ledger.aggregates import percentile

QUEUE = "raw-reminders"


@dataclass
class BurstResult:
    """Per slot: (fired - due, written - due) in seconds."""

    n: int
    lags: list[tuple[float, float]] = field(default_factory=list)
    cpu: CpuTime | None = None

    @property
    def drained_in(self) -> float:
        return max((w for _, w in self.lags), default=0.0)

    @property
    def rate(self) -> float:
        return len(self.lags) / max(self.drained_in, 1e-9)

    def summary(self) -> str:
        fired = [f for f, _ in self.lags] or [0.0]
        p50, p99 = percentile(fired, 50) or 0, percentile(fired, 99) or 0
        return (
            f"{len(self.lags)} of {self.n} slots fired, the last written {self.drained_in:.1f} s "
            f"after the deadline = {self.rate:.0f}/s; timer lag p50 {p50:.1f} s, p99 {p99:.1f} s"
        )


async def raw_burst(server: RawServer, n: int, concurrency: int, cached: int) -> BurstResult:
    client = server.client
    result = BurstResult(n)
    # Starting runs at a few hundred a second here; leave a margin for the first timers.
    due = datetime.now(UTC) + timedelta(seconds=30 + n / 100)

    @activity.defn(name="raw_fire")
    async def fire(fired_at: str) -> None:
        written = datetime.now(UTC)
        fired = datetime.fromisoformat(fired_at)
        result.lags.append(((fired - due).total_seconds(), (written - due).total_seconds()))

    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[RawWatch],
        activities=[fire],
        max_cached_workflows=cached,
    ):
        gate = asyncio.Semaphore(concurrency)

        async def start(i: int) -> None:
            async with gate:
                await client.start_workflow(
                    RawWatch.run, due.isoformat(), id=f"raw-watch-{i}", task_queue=QUEUE
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(start(i) for i in range(n)))
        print(f"raw: started {n} workflows in {time.perf_counter() - t0:.1f} s")
        if datetime.now(UTC) >= due:
            raise RuntimeError("starting ran past the raw deadline")
        await asyncio.sleep((due - datetime.now(UTC)).total_seconds())
        with server.cpu_time() as cpu:  # the burst alone: from the deadline until drained
            quiet_since = time.monotonic()
            seen = 0
            while len(result.lags) < n and time.monotonic() - quiet_since < 120:
                await asyncio.sleep(1)
                if len(result.lags) > seen:
                    seen, quiet_since = len(result.lags), time.monotonic()
        result.cpu = cpu
    return result


async def run_on_fresh_server(n: int, concurrency: int) -> BurstResult:
    """On a dev server of its own, started as dutyledger starts its embedded one."""
    cached = Settings().worker_cached_workflows
    async with fresh_dev_server() as server:
        return await raw_burst(server, n, concurrency, cached)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    result = asyncio.run(run_on_fresh_server(args.problems, args.concurrency))
    print(f"raw Temporal: {result.summary()}")
    if result.cpu is not None:
        print(result.cpu.per(len(result.lags), "slot (the burst only)"))


if __name__ == "__main__":
    run_main(main)
