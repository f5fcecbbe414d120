"""The engine's own pace for rectification lifecycles: a minimal raw-Temporal program doing the
server round trips one lifecycle of bench/rectification.py makes, with nothing else (no database,
no HTTP API, no deadline timers).

    uv run python -m bench.raw_rectification --problems 1000

Per lifecycle: a workflow started by the client and an Update that returns once its first
activity (the flag's write) has run, as dutyledger's flag does; then five validated Updates
(confirm, plan, approve-plan, completion, verify), each running one activity (the step's write);
the evidence upload touches no workflow. 16 lifecycles at once, through the Temporal client.
``bench.rectification`` runs this first on a fresh dev server and prints its ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench.harness import CpuTime, Latencies, fresh_dev_server, run_main
from bench.raw_rect_workflow import STEPS, RawRectification

QUEUE = "raw-rectification"


@dataclass
class RawLifecycles:
    n: int
    elapsed: float
    latencies: Latencies
    cpu: CpuTime | None = None

    @property
    def rate(self) -> float:
        return self.n / self.elapsed


@activity.defn(name="raw_persist")
async def persist(step: str) -> None:
    return None


async def raw_lifecycles(client: Client, n: int, concurrency: int) -> RawLifecycles:
    lat = Latencies()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            handle = await client.start_workflow(
                RawRectification.run, f"P-{i}", id=f"raw-rect:{i}", task_queue=QUEUE
            )
            await handle.execute_update(RawRectification.created_view)
            lat.add("flag", time.perf_counter() - t0)
            for step in STEPS:
                t0 = time.perf_counter()
                await handle.execute_update(RawRectification.act, step)
                lat.add(step, time.perf_counter() - t0)

    async with Worker(client, task_queue=QUEUE, workflows=[RawRectification], activities=[persist]):
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - t0
    return RawLifecycles(n, elapsed, lat)


async def run_on_fresh_server(n: int, concurrency: int) -> RawLifecycles:
    async with fresh_dev_server() as server:
        with server.cpu_time() as cpu:
            result = await raw_lifecycles(server.client, n, concurrency)
        result.cpu = cpu
        return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    result = asyncio.run(run_on_fresh_server(args.problems, args.concurrency))
    print(f"raw Temporal: {result.n} lifecycles in {result.elapsed:.1f} s = {result.rate:.2f}/s")
    for line in result.latencies.lines():
        print(line)
    if result.cpu is not None:
        print(result.cpu.per(result.n, "lifecycle"))


if __name__ == "__main__":
    run_main(main)
