"""The production topology on one machine: the Temporal dev server as the cluster, PostgreSQL as
the read model (a throwaway cluster, as the tests start), two API processes and one or two
worker processes, the cascade driven through both APIs in turn.

    uv run python -m bench.topology --orgs 1000

Runs the cascade three times on fresh databases: with one worker, with two, and with two of
which one is killed (SIGKILL, not restarted) once a third of the letters are signed, so the
survivor finishes the year alone. After each run it checks the read model: one letter per org, one `issue` and one
`sign` event per letter, no audit idempotency key twice, and the integrity report clean. Prints
orgs/s for each run.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from bench.cascade import ROOT, Cascade, drive
from bench.harness import Stack, embedded_stack, run_main
from services.core.db import make_engine
from services.demo import synthetic_tree
from tests.support.cycles import assert_cascade_once
from tests.support.postgres import PostgresCluster, postgres_available


async def one_run(
    cluster: PostgresCluster, n: int, workers: int, kill: bool, concurrency: int
) -> tuple[Cascade, str]:
    with cluster.database() as url:
        async with embedded_stack(url, workers=workers, apis=2) as stack:
            killed = asyncio.Event()
            result = await drive(stack, n, concurrency, _killer(stack, n, killed) if kill else None)
            note = " (one worker killed at a third, not restarted)" if killed.is_set() else ""
        engine = make_engine(url)
        try:
            org_ids = {o.id for o in synthetic_tree(n, depth=4, root=ROOT).orgs}
            assert_cascade_once(engine, result.cycle_id, org_ids)
        finally:
            engine.dispose()
    return result, note


def _killer(stack: Stack, n: int, killed: asyncio.Event) -> Callable[[int], None]:
    def on_signed(count: int) -> None:
        if count >= n // 3 and not killed.is_set():
            killed.set()
            stack.kill_worker(1)

    return on_signed


async def run(n: int, concurrency: int) -> None:
    if not postgres_available():
        raise SystemExit("needs PostgreSQL's initdb and pg_ctl (make test installs them)")
    cluster = PostgresCluster()
    cluster.start()
    try:
        for workers, kill in ((1, False), (2, False), (2, True)):
            result, note = await one_run(cluster, n, workers, kill, concurrency)
            print(
                f"{workers} worker(s), 2 APIs, PostgreSQL: {n} orgs ({result.levels}) signed in "
                f"{result.elapsed:.1f} s = {result.rate:.1f} orgs/s{note}; "
                "once each: letters, issue and sign events, integrity clean",
                flush=True,
            )
            for line in result.latencies.lines():
                print(line)
    finally:
        cluster.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orgs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    asyncio.run(run(args.orgs, args.concurrency))


if __name__ == "__main__":
    run_main(main)
