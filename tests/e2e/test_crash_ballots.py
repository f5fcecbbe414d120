"""kill -9 of the worker, the Temporal dev server and the API while every invited rater of an
evaluation casts ballots over HTTP, retrying as a real client would (the same request and
``Idempotency-Key`` until answered). Afterwards each invitation is voted once, there is exactly
one ballot per vote, rating closes and results publish for every subject, the trail verifies
and no workflow failed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.core.clock import today_in
from services.core.db import session_scope
from services.demo import demo_tree
from services.evaluation.models import (
    EvaluationBallot,
    EvaluationInvitation,
    EvaluationResult,
)
from services.integrity.drift import integrity_report
from services.org.store import import_tree
from tests.support.crash import RETRIED, Cluster, chaos, cluster, retrying
from tests.support.cycles import eventually, small_plan

pytestmark = pytest.mark.slow

TREE = demo_tree()


def _seed(engine: Engine, tokens: dict[str, str]) -> None:
    """The demo tree, its committee, and an account for every person (any may be a rater)."""
    with session_scope(engine) as s:
        import_tree(s, TREE)
        spec = AccountIn(role=Role.committee, scope_org_id="city", person_id="p-001")
        tokens["committee"] = create_account(s, spec).token
        for p in TREE.people:
            spec = AccountIn(role=Role.member, scope_org_id=p.org_id, person_id=p.id)
            tokens[p.id] = create_account(s, spec).token


def _count(engine: Engine, table: Any, **where: Any) -> int:
    with Session(engine) as s:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(getattr(table, k) == v)
        return int(s.exec(q).one())


async def _start(http: httpx.AsyncClient, c: Cluster, committee: dict[str, str]) -> str:
    r = await retrying(
        http,
        "POST",
        "/api/v1/cycles",
        headers=committee,
        json={"root_org_id": "city", "year": 2027, "title": "2027", "plan": small_plan()},
    )
    assert r.status_code == 202, r.text
    today = today_in("Asia/Shanghai")
    r = await retrying(
        http,
        "POST",
        "/api/v1/evaluations",
        headers={**committee, "Idempotency-Key": "crash-eval"},
        json={
            "cycle_id": r.json()["cycle_id"],
            "kind": "yearend",
            "title": "Year end",
            "subjects": {"under": "city", "levels": [1, 2]},
            "opens_on": today.isoformat(),
            "rating_deadline": (today + timedelta(days=10)).isoformat(),
        },
    )
    assert r.status_code == 202, r.text
    eid: str = r.json()["evaluation_id"]
    return eid


def _scores(rubric: dict[str, Any]) -> dict[str, float]:
    """Four fifths of the points on every indicator the raters judge."""
    return {
        ind["id"]: ind["max_points"] * 0.8
        for aspect in rubric["aspects"].values()
        for ind in aspect["indicators"]
        if ind["method"] == "rating"
    }


async def _rate(
    http: httpx.AsyncClient,
    eid: str,
    person: str,
    token: str,
    scores: dict[str, float],
    cast: list[int],
) -> None:
    """One rater: every ballot owed, each sent until answered; a retry the service had already
    recorded is answered as such (``recorded: false``)."""
    auth = {"Authorization": f"Bearer {token}"}
    r = await retrying(http, "GET", f"/api/v1/evaluations/{eid}/ballots/mine", headers=auth)
    assert r.status_code == 200, r.text
    for owed in r.json():
        if owed["voted"]:
            continue
        key = f"{person}:{owed['subject_org_id']}:{owed['group']}"
        body = {"subject_org_id": owed["subject_org_id"], "group": owed["group"], "scores": scores}
        r = await retrying(
            http,
            "POST",
            f"/api/v1/evaluations/{eid}/ballots",
            headers={**auth, "Idempotency-Key": key},
            json=body,
        )
        assert r.status_code == 201, r.text
        cast.append(1)


@pytest.mark.timeout(600)
async def test_ballots_cast_while_everything_is_killed(tmp_path: Path) -> None:
    tokens: dict[str, str] = {}
    cast: list[int] = []
    async with cluster(tmp_path, lambda engine: _seed(engine, tokens)) as c:
        committee = {"Authorization": f"Bearer {tokens['committee']}"}
        async with httpx.AsyncClient(base_url=c.base_url, timeout=30) as http:
            eid = await _start(http, c, committee)

            def rating_open() -> bool:
                return _count(c.engine, EvaluationInvitation, evaluation_id=eid) > 0

            await eventually(rating_open, timeout=120, what="rating open")
            invited = _count(c.engine, EvaluationInvitation, evaluation_id=eid)
            rubric = (
                await retrying(
                    http, "GET", "/api/v1/evaluations/rubric-template", headers=committee
                )
            ).json()
            scores = _scores(rubric)
            raters = [
                _rate(http, eid, p.id, tokens[p.id], scores, cast)
                for p in TREE.people
                if p.id in tokens
            ]
            marks = (invited // 6, invited // 2, invited * 5 // 6)
            try:
                await asyncio.wait_for(
                    asyncio.gather(chaos(c, lambda: len(cast), marks), *raters), timeout=480
                )
            except (TimeoutError, AssertionError) as stalled:
                raise AssertionError(
                    f"{stalled!r} after {len(cast)} ballots\n{c.tails()}"
                ) from None
            print(f"ballots {len(cast)} of {invited} invitations; retried: {dict(RETRIED)}")  # noqa: T201
            voted = _count(c.engine, EvaluationInvitation, evaluation_id=eid, voted=True)
            assert voted == len(cast)
            assert _count(c.engine, EvaluationBallot, evaluation_id=eid) == voted  # one per vote
            for step in ("close-rating", "publish"):
                r = await retrying(
                    http, "POST", f"/api/v1/evaluations/{eid}/{step}", headers=committee
                )
                assert r.status_code == 200, r.text
        assert _count(c.engine, EvaluationResult, evaluation_id=eid) == len(TREE.orgs) - 1
        with Session(c.engine) as s:
            report = integrity_report(s)
            assert report.ok, report.drift[:5] or report.problem
        client = await c.temporal()
        assert [w async for w in client.list_workflows("ExecutionStatus='Failed'")] == []
