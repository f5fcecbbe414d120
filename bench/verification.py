"""Benchmark: verifying the audit trail at N rectifications, in the request and in the background.

On a stack of its own (the dev server, one worker, one API; the embedded SQLite or ``--postgres``)
loaded with ``bench.ledger``'s data, one client reads the ledger's first page (50 rows) over and
over, as an auditor browsing would, in three phases:

1. alone;
2. while ``GET /api/v1/audit/verify`` verifies in the API process and answers when done;
3. while ``POST /api/v1/audit/verifications`` has a worker verify, polled every second.

It prints each phase's page latencies and each verification's duration and verdict.

    uv run python -m bench.verification --rows 100000 [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import httpx

from bench.harness import Latencies, embedded_stack, read_model, run_main
from bench.ledger import load, settle
from services.core.db import make_engine

PAGE = "/api/v1/rectifications?page_size=50"
ALONE_SECONDS = 15


async def _pages_while(
    http: httpx.AsyncClient, lat: Latencies, phase: str, until: Awaitable[Any]
) -> Any:
    """Read the ledger's first page again and again until ``until`` is done; its result."""
    task = asyncio.ensure_future(until)
    while not task.done():
        t0 = time.perf_counter()
        r = await http.get(PAGE)
        r.raise_for_status()
        lat.add(phase, time.perf_counter() - t0)
    return task.result()


async def _in_the_request(http: httpx.AsyncClient) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = await http.get("/api/v1/audit/verify")
    r.raise_for_status()
    return time.perf_counter() - t0, r.json()


async def _in_the_background(http: httpx.AsyncClient) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = await http.post("/api/v1/audit/verifications")
    r.raise_for_status()
    run_id = r.json()["id"]
    while True:
        run = (await http.get(f"/api/v1/audit/verifications/{run_id}")).json()
        if run["state"] != "running":
            return time.perf_counter() - t0, run
        await asyncio.sleep(1)


async def run(rows: int, postgres: bool) -> None:
    with read_model(postgres) as url:
        async with embedded_stack(url) as stack:
            engine = make_engine(stack.settings.resolved_database_url)
            secs = load(engine, rows)
            settle(engine)
            engine.dispose()
            on = "PostgreSQL" if postgres else "SQLite"
            print(f"{on}: loaded {rows:,} rectifications with events in {secs:.1f} s", flush=True)
            headers = {"Authorization": f"Bearer {stack.admin_token}"}
            async with httpx.AsyncClient(
                base_url=stack.base_url, headers=headers, timeout=3600
            ) as http:
                lat = Latencies()
                await _pages_while(http, lat, "alone", asyncio.sleep(ALONE_SECONDS))
                took, report = await _pages_while(
                    http, lat, "verify in the API", _in_the_request(http)
                )
                print(
                    f"GET /audit/verify answered in {took:.1f} s: ok={report['ok']}, "
                    f"{report['events_checked']:,} events"
                )
                took, done = await _pages_while(
                    http, lat, "verify in a worker", _in_the_background(http)
                )
                ran = datetime.fromisoformat(done["finished_at"]) - datetime.fromisoformat(
                    done["requested_at"]
                )
                print(
                    f"POST /audit/verifications seen done in {took:.1f} s (polled each second; "
                    f"asked to finished {ran.total_seconds():.1f} s): state={done['state']}, "
                    f"ok={done['ok']}, {done['events_checked']:,} events"
                )
                print(f"the ledger's first page ({PAGE}):")
                for line in lat.lines():
                    print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    asyncio.run(run(args.rows, args.postgres))


if __name__ == "__main__":
    run_main(main)
