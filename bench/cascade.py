"""The annual cycle's cascade through the HTTP API on the embedded default.

    uv run python -m bench.cascade --orgs 1000 [--no-raw] [--workers 2] [--postgres]

Starts its own stack (Temporal dev server with WAL pragmas, one worker process, one API process,
SQLite read model), imports a synthetic tree of N orgs on 4 levels, launches the cycle and signs
every letter as the heads would: each head, once its letter is issued, reads it and signs the
content hash it read. Heads sign as soon as their letters appear (levels overlap, as in real
life). Prints orgs/s from launch to the last signature, p50/p99 of the API calls and the peak
RSS of the worker and the API; ``--postgres`` uses a throwaway PostgreSQL cluster's database as
the read model instead. First, unless ``--no-raw``, the same cascade's server round trips
as a minimal raw-Temporal program on a fresh dev server (bench/raw_cascade.py), and the ratios
of throughput and signature latency to it. ``drive`` is the same cascade for other benchmarks
(bench/topology.py runs it across several API and worker processes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.harness import Latencies, PeakRss, Stack, embedded_stack, read_model, run_main
from bench.raw_cascade import run_on_fresh_server
from services.accounts.models import Role
from services.cycle.plan import default_plan
from services.demo import LEVEL_KINDS, synthetic_tree
from services.ledger.aggregates import percentile

YEAR = 2027
ROOT = "t"


@dataclass
class Cascade:
    cycle_id: str
    orgs: int
    elapsed: float
    levels: str  # letters signed per level, from the cycle's progress
    latencies: Latencies = field(default_factory=Latencies)

    @property
    def rate(self) -> float:
        return self.orgs / self.elapsed


async def drive(
    stack: Stack,
    n: int,
    concurrency: int,
    on_signed: Callable[[int], None] | None = None,
) -> Cascade:
    """Import an N-org tree, launch its cycle and sign every letter as it is issued, spreading
    the calls over the stack's API processes in turn; ``on_signed`` hears the running count."""
    tree = synthetic_tree(n, depth=4, root=ROOT)
    clients = [httpx.AsyncClient(base_url=b, timeout=120) for b in stack.base_urls]
    turn = itertools.cycle(clients)
    lat = Latencies()

    async def call(name: str, method: str, url: str, token: str, **kw: Any) -> Any:
        t0 = time.perf_counter()
        r = await next(turn).request(
            method, url, headers={"Authorization": f"Bearer {token}"}, **kw
        )
        lat.add(name, time.perf_counter() - t0)
        if r.status_code >= 300:
            raise RuntimeError(f"{name} {url}: {r.status_code} {r.text[:300]}")
        return r.json()

    try:
        await call(
            "import", "POST", "/api/v1/orgs/import", stack.admin_token, json=tree.model_dump()
        )
        heads = {o.id: stack.token(Role.member, o.id, o.head_person_id) for o in tree.orgs}
        committee = stack.token(Role.committee, ROOT, f"h-{ROOT}")
        lat.samples.clear()  # the figures are the cycle's
        plan = default_plan(YEAR, list(LEVEL_KINDS)).model_dump(mode="json")
        signed: set[str] = set()
        taken: set[str] = set()
        gate = asyncio.Semaphore(concurrency)

        async def sign(cid: str, org: str) -> None:
            async with gate:
                letter = await call(
                    "read letter", "GET", f"/api/v1/letters/{cid}/{org}", heads[org]
                )
                body = {"content_hash": letter["content_hash"]}
                await call(
                    "sign", "POST", f"/api/v1/letters/{cid}/{org}/sign", heads[org], json=body
                )
                signed.add(org)
                if on_signed:
                    on_signed(len(signed))

        t0 = time.perf_counter()
        body = {"root_org_id": ROOT, "year": YEAR, "title": "bench", "plan": plan}
        cid = (await call("launch", "POST", "/api/v1/cycles", committee, json=body))["cycle_id"]
        tasks: list[asyncio.Task[None]] = []
        while len(signed) < n:
            # Heads look for new letters while they have few left to sign: listing every
            # issued letter each 0.2 s while hundreds wait costs the API more than the signing.
            waiting = sum(not t.done() for t in tasks)
            if waiting < 4 * concurrency:
                fresh = await _issued(call, cid, committee) - taken
                for org in sorted(fresh):
                    taken.add(org)
                    tasks.append(asyncio.create_task(sign(cid, org)))
            for t in [t for t in tasks if t.done()]:
                t.result()  # surface a failure at once
            await asyncio.sleep(0.2)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        prog = await call("progress", "GET", f"/api/v1/cycles/{cid}", committee)
    finally:
        for c in clients:
            await c.aclose()
    levels = ", ".join(f"L{x['level']} {x['letters_signed']}/{x['orgs']}" for x in prog["levels"])
    return Cascade(cid, n, elapsed, levels, lat)


async def _issued(call: Callable[..., Any], cid: str, committee: str) -> set[str]:
    """Every org whose letter is issued and not yet signed."""
    page, found = 1, set[str]()
    while True:
        url = f"/api/v1/letters?cycle={cid}&status=issued&page={page}&page_size=500"
        got = await call("list letters", "GET", url, committee)
        # Pages shift while heads sign: an org may show up on two pages of a round.
        found |= {x["org_id"] for x in got["items"]}
        if page * 500 >= got["total"]:
            return found
        page += 1


async def run(n: int, concurrency: int, raw: bool, workers: int, postgres: bool) -> None:
    baseline = await run_on_fresh_server(n, concurrency) if raw else None
    if baseline is not None:
        print(
            f"raw Temporal (bench/raw_cascade.py, same round trips, fresh dev server): {n} orgs "
            f"in {baseline.elapsed:.1f} s = {baseline.rate:.1f} orgs/s",
            flush=True,
        )
        for line in baseline.latencies.lines():
            print(line)
        if baseline.cpu is not None:
            print(baseline.cpu.per(n, "org"))
    with read_model(postgres) as database_url:
        async with embedded_stack(database_url, workers=workers) as stack:
            rss = [PeakRss(w.pid) for w in stack.workers]
            with contextlib.ExitStack() as watching:
                for r in rss:
                    watching.enter_context(r)
                api_rss = watching.enter_context(PeakRss(stack.api.pid))
                cpu = watching.enter_context(stack.cpu_time())
                result = await drive(stack, n, concurrency)
    print(
        f"cascade: {n} orgs on 4 levels ({result.levels}) signed in {result.elapsed:.1f} s "
        f"= {result.rate:.1f} orgs/s, {concurrency} signers at once, {workers} worker(s), "
        f"{'PostgreSQL' if postgres else 'SQLite'} read model"
    )
    print("API calls (HTTP round trip; sign includes the workflow update and its DB write):")
    for line in result.latencies.lines():
        print(line)
    workers_rss = ", ".join(f"{r.peak:.0f}" for r in rss)
    print(f"peak RSS: worker(s) {workers_rss} MiB, API {api_rss.peak:.0f} MiB")
    db = "; PostgreSQL's own processes not counted" if postgres else ""
    print(cpu.per(n, "org") + f" (the import, sign-ins and the letter lists included{db})")
    if baseline is not None:
        ours, theirs = result.latencies.samples["sign"], baseline.latencies.samples["sign (Update)"]
        print(
            f"ratio to raw: throughput {result.rate / baseline.rate:.2f}; sign p50 "
            f"{_p(ours, 50) / _p(theirs, 50):.2f}x, p99 {_p(ours, 99) / _p(theirs, 99):.2f}x raw's"
        )


def _p(xs: list[float], q: float) -> float:
    return percentile(xs, q) or float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orgs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--no-raw", action="store_true", help="skip the raw-Temporal baseline")
    ap.add_argument("--workers", type=int, default=1, help="worker processes")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL as the read model")
    args = ap.parse_args()
    asyncio.run(run(args.orgs, args.concurrency, not args.no_raw, args.workers, args.postgres))


if __name__ == "__main__":
    run_main(main)
