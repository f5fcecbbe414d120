"""An evaluation's publication survives a worker killed (SIGKILL) while it applies the results:
a new worker finishes it, and every weak aspect became exactly one rectification, every poor
grade exactly one accountability record, with an intact audit chain."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.core.clock import today_in
from services.core.db import session_scope
from services.deadlines.accountability import Accountability
from services.demo import demo_tree
from services.evaluation.models import Evaluation
from services.integrity.drift import integrity_report
from services.org.store import import_tree
from services.rectification.models import Problem
from tests.api.test_evaluations import GROUPS, RUBRIC
from tests.support.cycles import eventually, small_plan
from tests.support.stack import running_stack
from tests.support.worker_process import worker_process

SUBJECTS = ["gb-1", "gb-2", "gb-3"]


def _count(engine: Engine, table: Any, **where: str) -> int:
    with Session(engine) as s:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(getattr(table, k) == v)
        return int(s.exec(q).one())


def _phase(engine: Engine, eid: str) -> str:
    with Session(engine) as s:
        row = s.get(Evaluation, eid)
        return row.phase if row else ""


async def test_worker_killed_while_publishing_applies_each_result_once(
    settings, sqlite_url: str, sqlite_engine: Engine, dev_env: WorkflowEnvironment, tmp_path
) -> None:
    with session_scope(sqlite_engine) as s:
        import_tree(s, demo_tree())
    async with running_stack(settings, sqlite_engine, dev_env.client, with_worker=False) as stack:
        committee = stack.token(Role.committee, "city", "p-001")
        queue = stack.settings.temporal_task_queue
        with worker_process(dev_env.client, sqlite_url, queue, tmp_path / "worker.log") as worker:
            r = await stack.call(
                "POST",
                "/api/v1/cycles",
                committee,
                json={"root_org_id": "city", "year": 2027, "title": "2027", "plan": small_plan()},
            )
            assert r.status_code == 202, r.text
            cid = r.json()["cycle_id"]
            today = today_in(stack.settings.timezone)
            r = await stack.call(
                "POST",
                "/api/v1/evaluations",
                committee,
                json={
                    "cycle_id": cid,
                    "kind": "yearend",
                    "title": "Year end",
                    "subjects": {"under": "city", "levels": [1]},
                    "rubric": RUBRIC,
                    "groups": [{**GROUPS[0], "weight": 100}],
                    "opens_on": today.isoformat(),
                    "rating_deadline": (today + timedelta(days=10)).isoformat(),
                },
            )
            assert r.status_code == 202, r.text
            eid = r.json()["evaluation_id"]
            await eventually(lambda: _phase(sqlite_engine, eid) == "rating", timeout=60)
            # The city's secretary rates every general branch low: both aspects are weak (< 60 %)
            # and the grade is poor, so publication owes 2 problems and 1 record per subject.
            for org in SUBJECTS:
                r = await stack.call(
                    "POST",
                    f"/api/v1/evaluations/{eid}/ballots",
                    committee,
                    json={
                        "subject_org_id": org,
                        "group": "superior",
                        "scores": {"study": 2, "tests": 1, "life": 5},
                    },
                )
                assert r.status_code == 201, r.text
            r = await stack.call("POST", f"/api/v1/evaluations/{eid}/close-rating", committee)
            assert r.status_code == 200, r.text
            publish = asyncio.create_task(
                stack.call("POST", f"/api/v1/evaluations/{eid}/publish", committee)
            )
            # Kill the worker as soon as the first result has acted: the rest is owed.
            await eventually(
                lambda: _count(sqlite_engine, Problem, source="evaluation") >= 1,
                timeout=60,
                what="the first weak aspect flagged",
            )
            worker.kill()
            worker.start()
            r = await asyncio.wait_for(publish, timeout=120)
            # Where it stands once published: the run loop may already have closed it (every result
            # applied) before the API reads it back, so published or closed, never earlier.
            assert r.status_code == 200 and r.json()["phase"] in ("published", "closed"), r.text
            assert r.json()["published_at"] is not None
            await eventually(
                lambda: _count(sqlite_engine, Problem, source="evaluation") == 2 * len(SUBJECTS),
                timeout=60,
                what="every weak aspect flagged",
            )
            await asyncio.sleep(2)  # anything owed twice would show by now
            assert _count(sqlite_engine, Problem, source="evaluation") == 2 * len(SUBJECTS)
            assert _count(sqlite_engine, Accountability, kind="evaluation_poor") == len(SUBJECTS)
            with Session(sqlite_engine) as s:
                report = integrity_report(s)
                assert report.ok, report.drift[:5] or report.problem
            for pid in _evaluation_problems(sqlite_engine):
                await dev_env.client.get_workflow_handle(f"rect:{pid}").terminate("test over")
            for org in ["city", *SUBJECTS]:
                handle = dev_env.client.get_workflow_handle(f"cycle:{cid}:org:{org}")
                with contextlib.suppress(Exception):  # a child that was never issued
                    await handle.terminate("test over")


def _evaluation_problems(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(Problem.id).where(Problem.source == "evaluation")).all())
