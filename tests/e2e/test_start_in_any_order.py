"""Started before Temporal, the API and a worker wait for it instead of dying: the API serves
and says why it is not ready (503 on /readyz and on writes, naming Temporal), the worker keeps
retrying, and both recover the moment Temporal comes up — no restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from services.core.search import dev_server_flags
from services.core.settings import venv_binary
from services.core.temporal import DATA_CONVERTER
from tests.support.cycles import eventually
from tests.support.ports import free_port

EXE = str(Path(sys.executable).parent / "dutyledger")


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([EXE, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_api_and_worker_started_before_temporal_recover_without_a_restart(
    tmp_path: Path,
) -> None:
    temporal_port, api_port, metrics_port, probes = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    )
    env = {
        **os.environ,
        "DUTYLEDGER_DATA_DIR": str(tmp_path / "var"),
        "DUTYLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'read-model.db'}",
        "DUTYLEDGER_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "DUTYLEDGER_TEMPORAL_TASK_QUEUE": "start-in-any-order",
        "DUTYLEDGER_API_PORT": str(api_port),
        "DUTYLEDGER_BOOTSTRAP_ADMIN_TOKEN": "dl_admin_for_this_test_0123456789",
        "DUTYLEDGER_LOG_JSON": "true",
        "DUTYLEDGER_WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
        "DUTYLEDGER_WORKER_HEALTH_ADDRESS": f"127.0.0.1:{probes}",
    }
    assert subprocess.run([EXE, "migrate"], env=env, timeout=120).returncode == 0
    base = f"http://127.0.0.1:{api_port}"
    admin = {"Authorization": "Bearer dl_admin_for_this_test_0123456789"}
    with (
        process(["api"], env, tmp_path / "api.log"),
        process(["worker"], env, tmp_path / "worker.log") as worker,
    ):
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def answering() -> httpx.Response | None:
                try:
                    return await http.get("/readyz")
                except httpx.TransportError:
                    return None

            first = await eventually(answering, timeout=60, what="the API to answer")
            assert first.status_code == 503 and "temporal" in first.json()["detail"]
            write = await http.post("/api/v1/problems", headers=admin, json={})
            assert write.status_code in (422, 503)  # never a 500
            await asyncio.sleep(2)
            assert worker.poll() is None  # still waiting for Temporal, not exited
            worker_probe = f"http://127.0.0.1:{probes}"
            assert (await http.get(f"{worker_probe}/livez")).status_code == 200  # alive
            waiting = await http.get(f"{worker_probe}/readyz")
            assert waiting.status_code == 503 and "temporal" in waiting.json()["detail"]

            server = await WorkflowEnvironment.start_local(
                port=temporal_port,
                data_converter=DATA_CONVERTER,
                dev_server_existing_path=str(venv_binary("temporal")),
                dev_server_database_filename=str(tmp_path / "temporal.db"),
                dev_server_extra_args=dev_server_flags(),
            )
            try:

                async def ready() -> bool:
                    r = await http.get("/readyz", params={"deep": "true"})
                    return r.status_code == 200

                await eventually(ready, timeout=90, what="readyz with a worker after Temporal")
                # The worker's own metrics (the SDK's, on their port) and the API's.
                sdk = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
                assert "temporal_workflow_task_schedule_to_start_latency" in sdk.text
                assert "temporal_activity_execution_latency" in sdk.text
                assert (await http.get(f"{worker_probe}/readyz")).status_code == 200
                api = (await http.get("/metrics")).text
                assert 'dutyledger_http_requests_total{method="GET",route="/readyz"' in api
            finally:
                await server.shutdown()
