"""The cascade on the dev server: a 200-org tree signed level by level through the API, the
annual Schedule created by the CLI, and a worker killed (SIGKILL) in the middle of a cascade."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.audit.chain import AuditEvent
from services.core.db import session_scope
from services.cycle.models import Cycle, Letter
from services.cycle.plan import default_plan
from services.demo import LEVEL_KINDS, synthetic_tree
from services.integrity.drift import integrity_report
from services.notify.models import Notification
from services.org.contracts import OrgTreeIn
from services.org.store import import_tree
from tests.support.cycles import eventually
from tests.support.stack import Stack, running_stack
from tests.support.worker_process import worker_process
from tests.support.world import terminate_all

EXE = str(Path(sys.executable).parent / "dutyledger")
YEAR = 2027


def plan(kinds: tuple[str, ...] = LEVEL_KINDS) -> dict[str, Any]:
    return default_plan(YEAR, list(kinds)).model_dump(mode="json")


def load(engine: Engine, tree: OrgTreeIn) -> None:
    with session_scope(engine) as s:
        import_tree(s, tree)


def count(engine: Engine, *where: Any, model: Any = Letter) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


async def launch(stack: Stack, root: str, kinds: tuple[str, ...] = LEVEL_KINDS) -> str:
    token = stack.token(Role.committee, root, f"h-{root}")
    r = await stack.call(
        "POST",
        "/api/v1/cycles",
        token,
        json={"root_org_id": root, "year": YEAR, "title": "cascade", "plan": plan(kinds)},
    )
    assert r.status_code == 202, r.text
    cid: str = r.json()["cycle_id"]
    return cid


async def sign_as_head(stack: Stack, tokens: dict[str, str], cid: str, org: str) -> None:
    token = tokens[org]
    r = await stack.call("GET", f"/api/v1/letters/{cid}/{org}", token)
    assert r.status_code == 200, r.text
    r = await stack.call(
        "POST",
        f"/api/v1/letters/{cid}/{org}/sign",
        token,
        json={"content_hash": r.json()["content_hash"]},
    )
    assert r.status_code == 200, r.text


async def gather_limited(jobs: list[Callable[[], Awaitable[None]]], limit: int = 8) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(j) for j in jobs))


async def test_a_200_org_tree_cascades_completely(
    settings, sqlite_engine: Engine, dev_env: WorkflowEnvironment
) -> None:
    root = f"c{uuid.uuid4().hex[:6]}"
    tree = synthetic_tree(200, depth=4, root=root)
    load(sqlite_engine, tree)
    depth = {o.id: o.id.count("-") for o in tree.orgs}
    async with running_stack(settings, sqlite_engine, dev_env.client) as stack:
        tokens = {o.id: stack.token(Role.member, o.id, o.head_person_id) for o in tree.orgs}
        try:
            cid = await launch(stack, root)
            for level in range(4):
                at_level = [o for o, d in depth.items() if d == level]
                await eventually(
                    lambda lv=level, n=len(at_level): (
                        count(  # type: ignore[misc]
                            sqlite_engine, Letter.cycle_id == cid, Letter.level == lv
                        )
                        == n
                    ),
                    timeout=120,
                    what=f"letters of level {level}",
                )
                # Nobody below has a letter before its parent signed.
                assert count(sqlite_engine, Letter.cycle_id == cid, Letter.level > level) == 0
                await gather_limited(
                    [lambda o=o: sign_as_head(stack, tokens, cid, o) for o in at_level]  # type: ignore[misc]
                )
            prog = (await stack.call("GET", f"/api/v1/cycles/{cid}", tokens[root])).json()
            assert prog["orgs"] == 200 and prog["letters_signed"] == 200, prog
            per_level = [sum(1 for d in depth.values() if d == lv) for lv in range(4)]
            assert per_level == [1, 6, 36, 157]
            assert [(lv["orgs"], lv["letters_signed"]) for lv in prog["levels"]] == [
                (n, n) for n in per_level
            ]
            assert count(sqlite_engine, AuditEvent.action == "issue", model=AuditEvent) == 200
        finally:
            await terminate_all(dev_env.client, sqlite_engine, [])


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_the_annual_schedule_lists_its_next_launches_and_launches(
    settings, sqlite_url: str, sqlite_engine: Engine, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    root = f"s{uuid.uuid4().hex[:6]}"
    load(sqlite_engine, synthetic_tree(3, depth=2, root=root))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan(("committee", "general_branch"))))
    # One activity thread: the launch's activity holds the only slot while the root's letter is
    # issued (it once waited for that letter, whose activity then had no slot to run in).
    one = settings.model_copy(update={"worker_activity_threads": 1})
    async with running_stack(one, sqlite_engine, dev_env.client) as stack:
        client: Client = dev_env.client
        env = {
            **os.environ,
            "DUTYLEDGER_TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "DUTYLEDGER_DATABASE_URL": sqlite_url,
            "DUTYLEDGER_TEMPORAL_TASK_QUEUE": stack.settings.temporal_task_queue,
        }
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**plan(), "templates": {"nowhere": []}}))
        r = _cli(
            [
                "schedule",
                "annual",
                "--root",
                root,
                "--month",
                "1",
                "--day",
                "2",
                "--plan",
                str(bad),
            ],
            env,
        )
        assert r.returncode == 2 and "plan.templates.nowhere" in r.stderr, r.stderr
        r = _cli(
            [
                "schedule",
                "annual",
                "--root",
                root,
                "--month",
                "1",
                "--day",
                "2",
                "--plan",
                str(plan_file),
            ],
            env,
        )
        assert r.returncode == 0, r.stderr
        created = json.loads(r.stdout)
        nxt = created["next_launches"]
        # 2 January, 00:00 in Shanghai = 1 January 16:00 UTC, one year after the other.
        assert [t[5:16] for t in nxt[:2]] == ["01-01T16:00", "01-01T16:00"], nxt
        assert int(nxt[1][:4]) == int(nxt[0][:4]) + 1
        shown = json.loads(_cli(["schedule", "show", "--root", root], env).stdout)
        assert shown["next_launches"] == nxt
        # Fire it now: this year's cycle is launched with the plan moved to this year.
        handle = client.get_schedule_handle(created["schedule_id"])
        try:
            await handle.trigger()
            cycle = await eventually(
                lambda: _cycle(sqlite_engine, root), timeout=60, what="scheduled launch"
            )
            assert cycle.plan["calendar"]["sign_by"][:4] == str(cycle.year)
            await eventually(lambda: count(sqlite_engine, Letter.cycle_id == cycle.id) == 1)
            await handle.trigger()  # a second firing in the same year starts nothing new
            await asyncio.sleep(2)
            assert count(sqlite_engine, model=Cycle) == 1
        finally:
            await handle.delete()
            await terminate_all(client, sqlite_engine, [])


def _cycle(engine: Engine, root: str) -> Cycle | None:
    with Session(engine) as s:
        return s.exec(select(Cycle).where(Cycle.root_org_id == root)).first()


async def test_a_worker_killed_mid_cascade_finishes_it_with_nothing_repeated(
    settings, sqlite_url: str, sqlite_engine: Engine, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A root with 550 children: two pages (500 + 50) of child letters.
    root = f"k{uuid.uuid4().hex[:6]}"
    load(sqlite_engine, synthetic_tree(551, depth=2, root=root))
    async with running_stack(settings, sqlite_engine, dev_env.client, with_worker=False) as stack:
        queue = stack.settings.temporal_task_queue
        with worker_process(dev_env.client, sqlite_url, queue, tmp_path / "worker.log") as worker:
            try:
                cid = await launch(stack, root, ("committee", "general_branch"))
                head = stack.token(Role.member, root, f"h-{root}")
                await sign_as_head(stack, {root: head}, cid, root)
                await eventually(
                    lambda: count(sqlite_engine, Letter.cycle_id == cid) > 60,
                    timeout=120,
                    what="the cascade under way",
                )
                worker.kill()
                killed_at = count(sqlite_engine, Letter.cycle_id == cid)
                assert killed_at < 551, "the cascade finished before the kill"
                worker.start()
                await eventually(
                    lambda: count(sqlite_engine, Letter.cycle_id == cid) == 551,
                    timeout=240,
                    what="the whole cascade",
                )
                await asyncio.sleep(2)  # anything retried late would show up now
                assert count(sqlite_engine, Letter.cycle_id == cid) == 551
                assert count(sqlite_engine, AuditEvent.action == "issue", model=AuditEvent) == 551
                with Session(sqlite_engine) as s:
                    keys = s.exec(
                        select(Notification.dedupe_key).where(Notification.kind == "letter_issued")
                    ).all()
                    assert len(keys) == len(set(keys)) == 551  # one "letter issued" each
                    report = integrity_report(s)
                    assert report.ok, report.drift[:5] or report.problem
                prog = (await stack.call("GET", f"/api/v1/cycles/{cid}", head)).json()
                assert prog["levels"][1]["letters_issued"] == 550
            finally:
                await terminate_all(dev_env.client, sqlite_engine, [])


async def test_a_long_year_continues_as_new_and_keeps_its_state(
    settings, sqlite_engine: Engine, dev_env: WorkflowEnvironment
) -> None:
    """Hundreds of progress reports grow the org workflow's history until the server suggests
    continuing as new: it does, between two updates, carrying its letter, commitments and
    deadlines; nothing is lost or written twice."""
    from services.cycle import client as cycle_client
    from services.cycle.contracts import Actor, CommitmentRequest, ProgressRequest
    from workflows.cycle_org import CycleOrgWorkflow

    root = f"n{uuid.uuid4().hex[:6]}"
    load(sqlite_engine, synthetic_tree(1, depth=1, root=root))
    async with running_stack(settings, sqlite_engine, dev_env.client) as stack:
        try:
            cid = await launch(stack, root, ("committee",))
            head = stack.token(Role.member, root, f"h-{root}")
            await sign_as_head(stack, {root: head}, cid, root)
            handle = dev_env.client.get_workflow_handle_for(
                CycleOrgWorkflow.run, f"cycle:{cid}:org:{root}"
            )
            first_run = (await handle.describe()).run_id
            actor = Actor(account_id="test", person_id=f"h-{root}", org_member=True)
            item_id = f"{cid}:{root}:1"
            await cycle_client.submit_commitment(
                dev_env.client,
                cid,
                root,
                CommitmentRequest(
                    actor=actor, commitment_id="C-LONG", text="t", item_ids=[item_id]
                ),
            )
            reports = 0
            while (await handle.describe()).run_id == first_run:
                reports += 1
                assert reports < 2000, "the history never grew long enough to continue as new"
                await cycle_client.report_progress(
                    dev_env.client,
                    cid,
                    root,
                    ProgressRequest(
                        actor=actor, item_id=item_id, actual=reports / 1000, note="", evidence=[]
                    ),
                )
            # The new run has everything: the letter, the progress so far, the commitment.
            letter = await handle.query(CycleOrgWorkflow.letter)
            assert letter is not None and letter.state.value == "signed"
            assert letter.item(item_id).actual == reports / 1000  # type: ignore[union-attr]
            r = await stack.call("GET", "/api/v1/commitments/C-LONG", head)
            assert r.status_code == 200 and r.json()["state"] == "submitted"
            # And it goes on working; every report was written once.
            r = await stack.call(
                "POST", f"/api/v1/items/{item_id}/progress", head, json={"actual": 12}
            )
            assert r.status_code == 200 and r.json()["actual"] == 12, r.text
            n = count(sqlite_engine, AuditEvent.action == "progress", model=AuditEvent)
            assert n == reports + 1
        finally:
            await terminate_all(dev_env.client, sqlite_engine, [])
