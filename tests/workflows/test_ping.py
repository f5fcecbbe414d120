"""The wiring: a workflow runs through a real worker and reaches the real DB, on both servers.

The time-skipping runs use a server of their own (``ts_fresh``): waiting on a result there let
the server skip 20 years ahead, and later tests on the shared one then saw their deadlines pass
at once (an escalation in test_rectification's timelines)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from api.worker import build_worker
from api.workflow_runner import compiled
from services.core.health import PingInput
from services.core.settings import Settings
from tests.support.histories import record
from workflows.ping import PingWorkflow


async def _round_trip(env: WorkflowEnvironment, settings, engine) -> None:
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(
        env.client, ActivityDeps(engine=engine, settings=settings), task_queue=queue
    ):
        handle = await env.client.start_workflow(
            PingWorkflow.run, PingInput(probe="hello"), id=f"ping:{uuid.uuid4()}", task_queue=queue
        )
        result = await handle.result()
        await record(handle, "ping")
    assert result.probe == "hello"
    assert result.dialect == engine.dialect.name


@pytest.mark.parametrize("sandbox", ["strict", "shared"])
async def test_ping_time_skipping(
    ts_fresh: WorkflowEnvironment, settings: Settings, engine, sandbox: str
) -> None:
    await _round_trip(ts_fresh, settings.model_copy(update={"worker_sandbox": sandbox}), engine)


async def test_ping_dev_server(dev_env: WorkflowEnvironment, settings, sqlite_engine) -> None:
    await _round_trip(dev_env, settings, sqlite_engine)


async def test_two_workers_in_one_process_keep_their_own_database(
    ts_fresh: WorkflowEnvironment, settings, sqlite_engine, pg_cluster
) -> None:
    from services.core.db import make_engine
    from services.schema import migrate

    if pg_cluster is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not on this machine")
    with pg_cluster.database() as url:
        pg_engine = make_engine(url)
        migrate(pg_engine)
        queues = {
            "sqlite": f"tq-{uuid.uuid4().hex[:8]}",
            "postgresql": f"tq-{uuid.uuid4().hex[:8]}",
        }
        engines = {"sqlite": sqlite_engine, "postgresql": pg_engine}
        workers = [
            build_worker(
                ts_fresh.client, ActivityDeps(engine=engines[k], settings=settings), task_queue=q
            )
            for k, q in queues.items()
        ]
        async with workers[0], workers[1]:
            for dialect, queue in queues.items():
                result = await ts_fresh.client.execute_workflow(
                    PingWorkflow.run,
                    PingInput(probe=dialect),
                    id=f"ping:{uuid.uuid4()}",
                    task_queue=queue,
                )
                assert result.dialect == dialect
        pg_engine.dispose()


async def test_worker_subprocess_runs_workflows_and_survives_sigkill(
    dev_env: WorkflowEnvironment, sqlite_url: str, sqlite_engine, tmp_path
) -> None:
    """The harness itself: a killed worker's replacement picks up work queued meanwhile."""
    from tests.support.worker_process import worker_process

    queue = f"tq-{uuid.uuid4().hex[:8]}"
    with worker_process(dev_env.client, sqlite_url, queue, tmp_path / "w.log") as w:
        r = await dev_env.client.execute_workflow(
            PingWorkflow.run, PingInput(probe="one"), id=f"ping:{uuid.uuid4()}", task_queue=queue
        )
        assert r.probe == "one"
        w.kill()
        handle = await dev_env.client.start_workflow(
            PingWorkflow.run, PingInput(probe="two"), id=f"ping:{uuid.uuid4()}", task_queue=queue
        )
        w.start()
        assert (await handle.result()).probe == "two"


async def test_the_sandbox_compiles_its_snippets_once(
    ts_fresh: WorkflowEnvironment, settings: Settings, engine
) -> None:
    """api/workflow_runner: a second run executes the sandbox's snippets without compiling any
    (exec of source compiled them at every activation and every payload's context)."""
    strict = settings.model_copy(update={"worker_sandbox": "strict"})
    await _round_trip(ts_fresh, strict, engine)
    first = compiled.cache_info()
    await _round_trip(ts_fresh, strict, engine)
    second = compiled.cache_info()
    assert second.misses == first.misses
    assert second.hits > first.hits
