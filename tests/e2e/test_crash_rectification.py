"""kill -9 of the worker, the Temporal dev server and the API while 30 rectifications are walked
from flagging to closure over HTTP by clients that retry as real ones would (the same request,
the same ``Idempotency-Key``, until the service answers). Afterwards each problem exists once,
is closed, and has each step once in its audit trail; each evidence file is stored once; the
trail verifies with no drift and no workflow failed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.audit.chain import AuditEvent
from services.core.db import session_scope
from services.demo import demo_tree
from services.evidence.models import Evidence
from services.integrity.drift import integrity_report
from services.org.store import import_tree
from services.rectification.models import Problem
from tests.support.crash import RETRIED, Cluster, chaos, cluster, retrying
from tests.support.world import OWNER

pytestmark = pytest.mark.slow

PROBLEMS = 30
# (action, who, body, the state it reaches), in the order a rectification walks them
STEPS: list[tuple[str, str, dict[str, Any], str]] = [
    ("confirm", "committee", {"owner_person_id": OWNER}, "assigned"),
    (
        "plan",
        "owner",
        {"measures": "File the minutes", "target_date": "2030-01-01"},
        "plan_submitted",
    ),
    ("approve-plan", "committee", {}, "in_progress"),
    ("completion", "owner", {"summary": "All minutes filed"}, "completion_submitted"),
    ("verify", "committee", {"result": "pass"}, "closed"),
]
ORDER = ["identified", *(reached for *_, reached in STEPS)]
ALREADY_TAKEN: list[str] = []  # steps whose retry found them taken (the answer was lost)


def _seed(engine: Engine, tokens: dict[str, str]) -> None:
    with session_scope(engine) as s:
        import_tree(s, demo_tree())
        spec = AccountIn(role=Role.committee, scope_org_id="city", person_id="p-001")
        tokens["committee"] = create_account(s, spec).token
        spec = AccountIn(role=Role.member, scope_org_id="gb-1-b1", person_id=OWNER)
        tokens["owner"] = create_account(s, spec).token


async def _walk(http: httpx.AsyncClient, tokens: dict[str, str], i: int, done: list[int]) -> None:
    """Flag problem ``i`` and take it to closure; a step the service had already taken before
    the client heard back answers 409 and the problem shows it taken."""
    auth = {k: {"Authorization": f"Bearer {t}"} for k, t in tokens.items()}
    body = {
        "org_id": "gb-1-b1",
        "source": "inspection",
        "category": "conduct",
        "severity": "major",
        "title": f"Minutes not filed ({i})",
    }
    headers = {**auth["committee"], "Idempotency-Key": f"flag-{i}"}
    r = await retrying(http, "POST", "/api/v1/problems", headers=headers, json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["problem_id"]
    done.append(1)
    for action, who, step_body, reached in STEPS:
        if action == "completion":
            step_body = {**step_body, "evidence": [await _upload(http, auth["owner"], i)]}
        url = f"/api/v1/problems/{pid}/{action}"
        r = await retrying(http, "POST", url, headers=auth[who], json=step_body)
        if r.status_code == 409:
            ALREADY_TAKEN.append(action)
            now = await retrying(http, "GET", f"/api/v1/problems/{pid}", headers=auth[who])
            assert ORDER.index(now.json()["state"]) >= ORDER.index(reached), (action, r.text)
        else:
            assert r.status_code == 200 and r.json()["state"] == reached, (action, r.text)
        done.append(1)


async def _upload(http: httpx.AsyncClient, auth: dict[str, str], i: int) -> str:
    files = {"file": (f"minutes-{i}.txt", f"minutes of meeting {i}".encode(), "text/plain")}
    headers = {**auth, "Idempotency-Key": f"evidence-{i}"}
    r = await retrying(http, "POST", "/api/v1/evidence", headers=headers, files=files)
    assert r.status_code == 201, r.text
    evidence_id: str = r.json()["evidence_id"]
    return evidence_id


@pytest.mark.timeout(600)
async def test_rectifications_walked_while_everything_is_killed(tmp_path: Path) -> None:
    tokens: dict[str, str] = {}
    done: list[int] = []
    async with cluster(tmp_path, lambda engine: _seed(engine, tokens)) as c:
        async with httpx.AsyncClient(base_url=c.base_url, timeout=30) as http:
            walkers = [_walk(http, tokens, i, done) for i in range(PROBLEMS)]
            try:
                await asyncio.wait_for(
                    asyncio.gather(chaos(c, lambda: len(done), (20, 70, 120)), *walkers),
                    timeout=540,
                )
            except (TimeoutError, AssertionError) as stalled:
                raise AssertionError(f"{stalled!r} after {len(done)} steps\n{c.tails()}") from None
        _assert_each_once(c)
        print(f"retried: {dict(RETRIED)}; answered 409 as already taken: {ALREADY_TAKEN}")  # noqa: T201
        client = await c.temporal()
        assert [w async for w in client.list_workflows("ExecutionStatus='Failed'")] == []


def _assert_each_once(c: Cluster) -> None:
    with Session(c.engine) as s:
        states = s.exec(select(Problem.state)).all()
        assert sorted(states) == ["closed"] * PROBLEMS  # each problem once, each closed
        trails: dict[str, list[str]] = {}
        for entity_id, action in s.exec(
            select(AuditEvent.entity_id, AuditEvent.action)
            .where(AuditEvent.entity_type == "problem")
            .order_by(col(AuditEvent.seq))
        ):
            trails.setdefault(entity_id, []).append(action)
        expected = ["flag", *(action for action, *_ in STEPS)]
        assert len(trails) == PROBLEMS
        assert all(t == expected for t in trails.values()), trails
        assert s.exec(select(func.count()).select_from(Evidence)).one() == PROBLEMS
        keys = s.exec(select(AuditEvent.idempotency_key)).all()
        assert len(keys) == len(set(keys))
        report = integrity_report(s)
        assert report.ok, report.drift[:5] or report.problem
