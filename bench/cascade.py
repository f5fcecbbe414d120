"""The annual cycle's cascade through the HTTP API on the embedded default.

    uv run python -m bench.cascade --orgs 1000

Starts its own stack (Temporal dev server with WAL pragmas, one worker process, one API process,
SQLite read model), imports a synthetic tree of N orgs on 4 levels, launches the cycle and signs
every letter as the heads would: each head, once its letter is issued, reads it and signs the
content hash it read. Heads sign as soon as their letters appear (levels overlap, as in real
life). Prints orgs/s from launch to the last signature, p50/p99 of the API calls and the peak
RSS of the worker and the API.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from bench.harness import Latencies, PeakRss, embedded_stack, run_main
from services.accounts.models import Role
from services.cycle.plan import default_plan
from services.demo import LEVEL_KINDS, synthetic_tree

YEAR = 2027
ROOT = "t"


async def run(n: int, concurrency: int) -> None:
    tree = synthetic_tree(n, depth=4, root=ROOT)
    async with (
        embedded_stack() as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=120) as http,
    ):
        r = await http.post(
            "/api/v1/orgs/import",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
            json=tree.model_dump(),
        )
        r.raise_for_status()
        heads = {o.id: stack.token(Role.member, o.id, o.head_person_id) for o in tree.orgs}
        committee = stack.token(Role.committee, ROOT, f"h-{ROOT}")
        lat = Latencies()

        async def call(name: str, method: str, url: str, token: str, **kw: Any) -> Any:
            t0 = time.perf_counter()
            r = await http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kw)
            lat.add(name, time.perf_counter() - t0)
            if r.status_code >= 300:
                raise RuntimeError(f"{name} {url}: {r.status_code} {r.text[:300]}")
            return r.json()

        plan = default_plan(YEAR, list(LEVEL_KINDS)).model_dump(mode="json")
        signed: set[str] = set()
        taken: set[str] = set()
        gate = asyncio.Semaphore(concurrency)

        async def sign(cid: str, org: str) -> None:
            async with gate:
                letter = await call(
                    "read letter", "GET", f"/api/v1/letters/{cid}/{org}", heads[org]
                )
                await call(
                    "sign",
                    "POST",
                    f"/api/v1/letters/{cid}/{org}/sign",
                    heads[org],
                    json={"content_hash": letter["content_hash"]},
                )
                signed.add(org)

        with PeakRss(stack.worker.pid) as rss, PeakRss(stack.api.pid) as api_rss:
            t0 = time.perf_counter()
            launched = await call(
                "launch",
                "POST",
                "/api/v1/cycles",
                committee,
                json={"root_org_id": ROOT, "year": YEAR, "title": "bench", "plan": plan},
            )
            cid = launched["cycle_id"]
            tasks: list[asyncio.Task[None]] = []
            while len(signed) < n:
                page, fresh = 1, set[str]()
                while True:  # every issued letter not yet taken by a signer
                    got = await call(
                        "list letters",
                        "GET",
                        f"/api/v1/letters?cycle={cid}&status=issued&page={page}&page_size=500",
                        committee,
                    )
                    # Pages shift while heads sign: an org may show up on two pages of a round.
                    fresh |= {x["org_id"] for x in got["items"]} - taken
                    if page * 500 >= got["total"]:
                        break
                    page += 1
                for org in sorted(fresh):
                    taken.add(org)
                    tasks.append(asyncio.create_task(sign(cid, org)))
                for t in [t for t in tasks if t.done()]:
                    t.result()  # surface a failure at once
                await asyncio.sleep(0.2)
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - t0
        prog = await call("progress", "GET", f"/api/v1/cycles/{cid}", committee)
        levels = ", ".join(
            f"L{x['level']} {x['letters_signed']}/{x['orgs']}" for x in prog["levels"]
        )
        print(
            f"cascade: {n} orgs on 4 levels ({levels}) signed in {elapsed:.1f} s "
            f"= {n / elapsed:.1f} orgs/s, {concurrency} signers at once"
        )
        print("API calls (HTTP round trip; sign includes the workflow update and its DB write):")
        for line in lat.lines():
            print(line)
        print(f"peak RSS: worker {rss.peak:.0f} MiB, API {api_rss.peak:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orgs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    asyncio.run(run(args.orgs, args.concurrency))


if __name__ == "__main__":
    run_main(main)
