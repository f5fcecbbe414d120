"""Rectification lifecycles through the HTTP API on the embedded default.

    uv run python -m bench.rectification --problems 1000 [--no-raw] [--postgres]

Starts its own stack (Temporal dev server with WAL pragmas, one worker process, one API process,
SQLite read model, or with ``--postgres`` a throwaway PostgreSQL cluster's), loads the demo tree,
then flags N problems and walks each to closure as the people involved would: flag, confirm,
plan, approve-plan, evidence upload, completion, verify. Prints lifecycles/s, p50/p99 per action
and the worker's peak RSS. First, unless ``--no-raw``, the same lifecycles' server round trips as
a minimal raw-Temporal program on a fresh dev server (bench/raw_rectification.py), and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from bench.harness import Latencies, PeakRss, embedded_stack, read_model, run_main
from bench.raw_rectification import run_on_fresh_server
from services.accounts.models import Role
from services.demo import demo_tree

OWNER = "p-009"


async def lifecycle(
    http: httpx.AsyncClient, i: int, tokens: dict[str, str], lat: Latencies
) -> None:
    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    async def call(name: str, who: str, url: str, **kw: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        r = await http.post(url, headers=auth(who), **kw)
        lat.add(name, time.perf_counter() - t0)
        if r.status_code >= 300:
            raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
        body: dict[str, Any] = r.json()
        return body

    p = await call(
        "flag",
        "committee",
        "/api/v1/problems",
        json={
            "org_id": "gb-1-b1",
            "source": "inspection",
            "category": "conduct",
            "severity": "major",
            "title": f"Bench problem {i}",
        },
    )
    url = f"/api/v1/problems/{p['problem_id']}"
    await call("confirm", "committee", f"{url}/confirm", json={"owner_person_id": OWNER})
    await call(
        "plan", "owner", f"{url}/plan", json={"measures": "fix", "target_date": "2030-01-01"}
    )
    await call("approve-plan", "committee", f"{url}/approve-plan", json={})
    ev = await call(
        "evidence",
        "owner",
        "/api/v1/evidence",
        files={"file": ("e.txt", f"evidence {i}".encode(), "text/plain")},
    )
    await call(
        "completion",
        "owner",
        f"{url}/completion",
        json={"summary": "done", "evidence": [ev["evidence_id"]]},
    )
    done = await call("verify", "verifier", f"{url}/verify", json={"result": "pass"})
    assert done["state"] == "closed"


async def run(n: int, concurrency: int, raw: bool, postgres: bool) -> None:
    baseline = await run_on_fresh_server(n, concurrency) if raw else None
    if baseline is not None:
        print(
            f"raw Temporal (bench/raw_rectification.py, same round trips, fresh dev server): "
            f"{n} lifecycles in {baseline.elapsed:.1f} s = {baseline.rate:.2f} lifecycles/s",
            flush=True,
        )
        for line in baseline.latencies.lines():
            print(line)
        if baseline.cpu is not None:
            print(baseline.cpu.per(n, "lifecycle"))
    with read_model(postgres) as database_url:
        rate = await lifecycles(database_url, n, concurrency)
    if baseline is not None:
        print(f"ratio to raw: lifecycles/s {rate / baseline.rate:.2f}")


async def lifecycles(database_url: str | None, n: int, concurrency: int) -> float:
    """N lifecycles through the API on a stack of its own; returns lifecycles/s."""
    async with (
        embedded_stack(database_url) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=120) as http,
    ):
        r = await http.post(
            "/api/v1/orgs/import",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
            json=demo_tree().model_dump(),
        )
        r.raise_for_status()
        tokens = {
            "committee": stack.token(Role.committee, "city", "p-001"),
            "verifier": stack.token(Role.committee, "gb-1", "p-005"),
            "owner": stack.token(Role.member, "gb-1-b1", OWNER),
        }
        lat = Latencies()
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                await lifecycle(http, i, tokens, lat)

        with (
            PeakRss(stack.worker.pid) as rss,
            PeakRss(stack.api.pid) as api_rss,
            stack.cpu_time() as cpu,
        ):
            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            elapsed = time.perf_counter() - t0
        on = "PostgreSQL" if database_url else "SQLite"
        print(
            f"rectification lifecycles ({on} read model): {n} in {elapsed:.1f} s = "
            f"{n / elapsed:.2f} lifecycles/s ({n * 7 / elapsed:.1f} requests/s), "
            f"concurrency {concurrency}"
        )
        print("per action (HTTP round trip, including the workflow update and its DB write):")
        for line in lat.lines():
            print(line)
        print(f"peak RSS: worker {rss.peak:.0f} MiB, API {api_rss.peak:.0f} MiB")
        print(cpu.per(n, "lifecycle") + (" (PostgreSQL's own not counted)" if database_url else ""))
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--no-raw", action="store_true", help="skip the raw-Temporal baseline")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL as the read model")
    args = ap.parse_args()
    asyncio.run(run(args.problems, args.concurrency, not args.no_raw, args.postgres))


if __name__ == "__main__":
    run_main(main)
