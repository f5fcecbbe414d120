"""A worker killed (SIGKILL) in the middle of a transition, and restarted: applied exactly once."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.audit.chain import AuditEvent
from services.core.db import session_scope
from services.demo import demo_tree
from services.integrity.drift import integrity_report
from services.org.store import import_tree
from services.rectification.models import Problem
from tests.support.stack import running_stack
from tests.support.worker_process import worker_process
from tests.support.world import OWNER


async def _activity_started(env: WorkflowEnvironment, wid: str, timeout: float = 20) -> None:
    handle = env.client.get_workflow_handle(wid)
    for _ in range(int(timeout * 10)):
        desc = await handle.describe()
        if any(
            a.attempt >= 1 and a.last_started_time.seconds
            for a in desc.raw_description.pending_activities
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the persist activity never started")


async def test_worker_killed_mid_transition_applies_it_once(
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
                "/api/v1/problems",
                committee,
                json={
                    "org_id": "gb-1-b1",
                    "source": "inspection",
                    "category": "conduct",
                    "severity": "major",
                    "title": "Minutes not filed",
                },
            )
            assert r.status_code == 201, r.text
            pid = r.json()["problem_id"]

            # Hold the database's write lock: the worker's persist activity will block inside its
            # transaction, i.e. in the middle of the transition.
            lock = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=30)
            lock.execute("BEGIN IMMEDIATE")
            confirm = asyncio.create_task(
                stack.call(
                    "POST",
                    f"/api/v1/problems/{pid}/confirm",
                    committee,
                    json={"owner_person_id": OWNER},
                )
            )
            await _activity_started(dev_env, f"rect:{pid}")
            worker.kill()
            lock.rollback()
            lock.close()
            worker.start()  # a new worker takes over; Temporal retries the lost attempt
            r = await asyncio.wait_for(confirm, timeout=60)
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "assigned" and r.json()["version"] == 2

            # And the whole rest of the lifecycle still works on the new worker.
            r = await stack.call(
                "POST", f"/api/v1/problems/{pid}/dismiss", committee, json={"reason": "x"}
            )
            assert r.status_code == 409
        with Session(sqlite_engine) as s:
            events = s.exec(
                select(AuditEvent).where(AuditEvent.entity_id == pid).order_by(col(AuditEvent.seq))
            ).all()
            assert [e.action for e in events] == ["flag", "confirm"]
            assert s.get(Problem, pid).owner_person_id == OWNER  # type: ignore[union-attr]
            report = integrity_report(s)
            assert report.ok, report.drift[:5] or report.problem
        await dev_env.client.get_workflow_handle(f"rect:{pid}").terminate("test over")
