"""An evaluation at scale on the embedded default: N subjects, R raters each, ballots via the API.

    uv run python -m bench.evaluation --subjects 1000 --raters 20

The tree is a root committee over N orgs; each org has a head and R - 1 members. The evaluation
(the shipped rubric) rates every org with two groups: ``superior`` (the root's head, one rater
for all N) and ``members`` (the org's R - 1 members), so R ballots per subject, N x R in all.
What it measures, with nothing faked:

- starting the evaluation: ``POST /api/v1/evaluations`` writes the subjects and every invitation
  in the request, then the workflow opens rating;
- ballots/s through ``POST /api/v1/evaluations/{id}/ballots`` from C concurrent clients (each
  ballot: authentication, invitation check, validation, the anonymous ballot and the
  participation row in one transaction), with p50/p99;
- closing rating (``close-rating``): the worker's activity computes every result; the time from
  the request until the phase is ``calibration`` and the worker's peak RSS meanwhile;
- the results computation alone (``services.evaluation.results.compute_results``) run again in
  this process on the same database, timed, with its peak Python allocation (tracemalloc);
- reading the results: ``GET …/results`` (all subjects) and ``…/results.xlsx``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import tracemalloc
from datetime import date, timedelta
from typing import Any

import httpx
from sqlmodel import Session, select

from bench.harness import Latencies, PeakRss, embedded_stack, run_main
from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.core.clock import utcnow
from services.core.db import make_engine
from services.cycle.plan import default_plan
from services.evaluation.contracts import Method
from services.evaluation.defaults import DEFAULT_RUBRIC
from services.evaluation.models import Evaluation
from services.evaluation.results import compute_results

ROOT = "root"


def tree(n: int, r: int) -> dict[str, Any]:
    orgs: list[dict[str, Any]] = [
        {"id": ROOT, "name": "Root committee", "kind": "committee", "head_person_id": "h-root"}
    ]
    people: list[dict[str, Any]] = [{"id": "h-root", "name": "Root head", "org_id": ROOT}]
    for i in range(n):
        oid = f"s-{i:05d}"
        orgs.append(
            {
                "id": oid,
                "name": f"Org {i}",
                "kind": "branch",
                "parent_id": ROOT,
                "head_person_id": f"h-{oid}",
            }
        )
        people.append({"id": f"h-{oid}", "name": f"Head {i}", "org_id": oid})
        people += [
            {"id": f"m-{oid}-{k:02d}", "name": f"Member {i}.{k}", "org_id": oid}
            for k in range(1, r)
        ]
    return {"orgs": orgs, "people": people}


def member_tokens(database_url: str, n: int, r: int) -> dict[str, str]:
    """One member account per rater, created in one transaction (person id → token)."""
    engine = make_engine(database_url)
    tokens: dict[str, str] = {}
    with Session(engine) as s:
        tokens["h-root"] = create_account(
            s, AccountIn(role=Role.committee, scope_org_id=ROOT, person_id="h-root")
        ).token
        for i in range(n):
            oid = f"s-{i:05d}"
            for k in range(1, r):
                pid = f"m-{oid}-{k:02d}"
                spec = AccountIn(role=Role.member, scope_org_id=oid, person_id=pid)
                tokens[pid] = create_account(s, spec).token
        s.commit()
    engine.dispose()
    return tokens


def ballot(org_id: str, group: str, rnd: random.Random) -> dict[str, Any]:
    """Scores between half and all of each indicator's points (few aspects end up weak)."""
    scores = {
        i.id: round(rnd.uniform(0.5, 1.0) * i.max_points, 1)
        for spec in DEFAULT_RUBRIC.aspects.values()
        for i in spec.indicators
        if i.method is Method.rating
    }
    return {"subject_org_id": org_id, "group": group, "scores": scores}


async def wait_phase(http: httpx.AsyncClient, auth: dict[str, str], eid: str, phase: str) -> None:
    for _ in range(6000):
        r = await http.get(f"/api/v1/evaluations/{eid}", headers=auth)
        if r.status_code == 200 and r.json()["phase"] == phase:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"evaluation {eid} never reached {phase}")


async def run(n: int, r: int, concurrency: int) -> None:
    async with (
        embedded_stack() as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=600) as http,
    ):
        admin = {"Authorization": f"Bearer {stack.admin_token}"}
        t0 = time.perf_counter()
        got = await http.post("/api/v1/orgs/import", headers=admin, json=tree(n, r))
        got.raise_for_status()
        url = stack.settings.resolved_database_url
        tokens = member_tokens(url, n, r)
        print(
            f"tree: {n} subjects x {r} raters, {len(tokens)} accounts, "
            f"set up in {time.perf_counter() - t0:.1f} s"
        )
        committee = {"Authorization": f"Bearer {tokens['h-root']}"}
        year = date.today().year + 1
        plan = default_plan(year, ["committee", "branch"]).model_dump(mode="json")
        got = await http.post(
            "/api/v1/cycles",
            headers=committee,
            json={"root_org_id": ROOT, "year": year, "title": "Bench", "plan": plan},
        )
        got.raise_for_status()
        cycle_id = got.json()["cycle_id"]
        today = date.today()
        body = {
            "cycle_id": cycle_id,
            "kind": "yearend",
            "title": "Bench evaluation",
            "subjects": {"under": ROOT, "levels": [1]},
            "groups": [
                {"name": "superior", "weight": 40, "min_size": 1},
                {"name": "members", "weight": 60, "min_size": 3},
            ],
            "opens_on": today.isoformat(),
            "rating_deadline": (today + timedelta(days=14)).isoformat(),
        }
        t0 = time.perf_counter()
        got = await http.post("/api/v1/evaluations", headers=committee, json=body)
        got.raise_for_status()
        started = time.perf_counter() - t0
        eid = got.json()["evaluation_id"]
        await wait_phase(http, committee, eid, "rating")
        print(f"started: POST /evaluations {started:.2f} s ({n} subjects, {n * r} invitations)")

        lat = Latencies()
        gate = asyncio.Semaphore(concurrency)
        rnd = random.Random(7)
        jobs = [("h-root", f"s-{i:05d}", "superior") for i in range(n)]
        jobs += [
            (f"m-s-{i:05d}-{k:02d}", f"s-{i:05d}", "members") for i in range(n) for k in range(1, r)
        ]
        rnd.shuffle(jobs)

        async def cast(k: int, person: str, org_id: str, group: str) -> None:
            auth = {"Authorization": f"Bearer {tokens[person]}", "Idempotency-Key": f"b-{k}"}
            async with gate:
                t = time.perf_counter()
                res = await http.post(
                    f"/api/v1/evaluations/{eid}/ballots",
                    headers=auth,
                    json=ballot(org_id, group, rnd),
                )
                lat.add("ballot", time.perf_counter() - t)
            if res.status_code != 201:
                raise RuntimeError(f"ballot {k}: {res.status_code} {res.text[:300]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(cast(k, *job) for k, job in enumerate(jobs)))
        took = time.perf_counter() - t0
        print(
            f"ballots: {len(jobs)} in {took:.1f} s = {len(jobs) / took:.1f}/s "
            f"({concurrency} clients)"
        )
        print("\n".join(lat.lines()))

        with PeakRss(stack.worker.pid) as rss:
            t0 = time.perf_counter()
            got = await http.post(f"/api/v1/evaluations/{eid}/close-rating", headers=committee)
            got.raise_for_status()
            await wait_phase(http, committee, eid, "calibration")
            closing = time.perf_counter() - t0
        print(
            f"close rating → calibration (every result computed by the worker): {closing:.1f} s,"
            f" worker peak RSS {rss.peak:.0f} MiB"
        )

        engine = make_engine(url)
        with Session(engine) as s:
            row = s.exec(select(Evaluation).where(Evaluation.id == eid)).one()
            tracemalloc.start()
            t0 = time.perf_counter()
            computed = compute_results(s, row, utcnow())
            s.flush()
            alone = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            s.rollback()
        engine.dispose()
        print(
            f"compute_results alone: {computed} subjects in {alone:.2f} s, "
            f"peak Python allocation {peak:.0f} MiB"
        )

        reads = Latencies()
        for _ in range(5):
            t = time.perf_counter()
            got = await http.get(f"/api/v1/evaluations/{eid}/results", headers=committee)
            got.raise_for_status()
            reads.add("results (all subjects)", time.perf_counter() - t)
            t = time.perf_counter()
            got = await http.get(f"/api/v1/evaluations/{eid}/results.xlsx", headers=committee)
            got.raise_for_status()
            reads.add("results.xlsx", time.perf_counter() - t)
        print("\n".join(reads.lines()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--raters", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    asyncio.run(run(args.subjects, args.raters, args.concurrency))


if __name__ == "__main__":
    run_main(main)
