"""The engine's own pace for the cascade: a minimal raw-Temporal program doing one org's server
round trips as dutyledger does them, with nothing else (no database, no HTTP API, no timers).

    uv run python -m bench.raw_cascade --orgs 1000

Per org: a workflow started by its parent's activity (by business key, like dutyledger's
``issue_children``), an activity (the letter's issue), a validated Update whose handler runs an
activity (the head's signature), then an activity starting its children. Heads sign as soon as
their org's issue activity has run, 16 at once, through the Temporal client. ``bench.cascade``
runs this first on a fresh dev server of the same kind and prints dutyledger's ratio to it.
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
from bench.raw_workflow import RawOrg
from services.demo import synthetic_tree

QUEUE = "raw-cascade"


@dataclass
class RawResult:
    orgs: int
    elapsed: float
    latencies: Latencies
    cpu: CpuTime | None = None

    @property
    def rate(self) -> float:
        return self.orgs / self.elapsed


class RawActivities:
    def __init__(self, client: Client, children: dict[str, list[str]]) -> None:
        self.client = client
        self.children = children
        self.issued: asyncio.Queue[str] = asyncio.Queue()

    @activity.defn(name="raw_issue")
    async def issue(self, org_id: str) -> None:
        self.issued.put_nowait(org_id)

    @activity.defn(name="raw_record_sign")
    async def record_sign(self, content_hash: str) -> None:
        return None

    @activity.defn(name="raw_start_children")
    async def start_children(self, org_id: str) -> None:
        for child in self.children.get(org_id, []):
            await self.client.start_workflow(RawOrg.run, child, id=f"raw:{child}", task_queue=QUEUE)


async def raw_cascade(client: Client, n: int, concurrency: int) -> RawResult:
    tree = synthetic_tree(n, depth=4, root="t")
    children: dict[str, list[str]] = {}
    for o in tree.orgs:
        if o.parent_id:
            children.setdefault(o.parent_id, []).append(o.id)
    acts = RawActivities(client, children)
    lat = Latencies()
    gate = asyncio.Semaphore(concurrency)
    signed = 0

    async def sign(org_id: str) -> None:
        nonlocal signed
        async with gate:
            t0 = time.perf_counter()
            handle = client.get_workflow_handle(f"raw:{org_id}")
            await handle.execute_update(RawOrg.sign, f"hash-{org_id}")
            lat.add("sign (Update)", time.perf_counter() - t0)
            signed += 1

    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[RawOrg],
        activities=[acts.issue, acts.record_sign, acts.start_children],
    ):
        t0 = time.perf_counter()
        await client.start_workflow(RawOrg.run, "t", id="raw:t", task_queue=QUEUE)
        tasks = []
        while signed < n:
            try:
                org = await asyncio.wait_for(acts.issued.get(), timeout=0.2)
            except TimeoutError:
                continue
            tasks.append(asyncio.create_task(sign(org)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return RawResult(n, elapsed, lat)


async def run_on_fresh_server(n: int, concurrency: int) -> RawResult:
    """On a dev server of its own, started as dutyledger starts its embedded one."""
    async with fresh_dev_server() as server:
        with server.cpu_time() as cpu:
            result = await raw_cascade(server.client, n, concurrency)
        result.cpu = cpu
        return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orgs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    result = asyncio.run(run_on_fresh_server(args.orgs, args.concurrency))
    print(f"raw Temporal: {result.orgs} orgs in {result.elapsed:.1f} s = {result.rate:.1f} orgs/s")
    for line in result.latencies.lines():
        print(line)
    if result.cpu is not None:
        print(result.cpu.per(result.orgs, "org"))


if __name__ == "__main__":
    run_main(main)
