"""A verification of the audit trail survives its worker killed (SIGKILL) mid-read: the server
notices within the heartbeat timeout, a new worker reads again from the start, and the run ends
once, with the whole verdict; asking again meanwhile answers the same run."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from bench.ledger import load
from services.accounts.models import Role
from services.audit.chain import AuditEvent
from services.integrity.contracts import verification_workflow_id
from services.integrity.verifications import AuditVerification
from tests.support.cycles import eventually
from tests.support.stack import running_stack
from tests.support.worker_process import worker_process

URL = "/api/v1/audit/verifications"
# Enough rectifications (≈ 6 events each) that one read takes seconds on this machine.
ROWS = 20_000


async def _reading(handle: WorkflowHandle[object, object]) -> bool:
    pending = (await handle.describe()).raw_description.pending_activities
    return any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending)


async def _attempts(handle: WorkflowHandle[object, object]) -> list[int]:
    """The attempt of each activity start in the run's history."""
    history = await handle.fetch_history()
    return [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]


async def test_worker_killed_mid_verification_the_run_ends_once_with_its_verdict(
    settings, sqlite_url: str, sqlite_engine: Engine, dev_env: WorkflowEnvironment, tmp_path
) -> None:
    load(sqlite_engine, ROWS)
    with Session(sqlite_engine) as s:
        events = int(s.exec(select(func.count()).select_from(AuditEvent)).one())
    async with running_stack(settings, sqlite_engine, dev_env.client, with_worker=False) as stack:
        admin = stack.token(Role.admin)  # installation-wide: the whole report
        queue = stack.settings.temporal_task_queue
        with worker_process(dev_env.client, sqlite_url, queue, tmp_path / "worker.log") as worker:
            r = await stack.call("POST", URL, admin)
            assert r.status_code == 202, r.text
            run_id = r.json()["id"]
            handle = dev_env.client.get_workflow_handle(verification_workflow_id(run_id))
            await eventually(lambda: _reading(handle), timeout=60, what="the run reading")
            with Session(sqlite_engine) as s:
                reading = s.get(AuditVerification, run_id)
                assert reading is not None and reading.state == "running"  # mid-read
            worker.kill()
            worker.start()
            again = await stack.call("POST", URL, admin)
            assert again.status_code == 200 and again.json()["id"] == run_id, again.text

            async def ended() -> bool:
                r = await stack.call("GET", f"{URL}/{run_id}", admin)
                return bool(r.json()["state"] != "running")

            # The heartbeat timeout (60 s), the retry's 10 s, then the read again.
            await eventually(ended, timeout=180, what="the run's verdict")
            r = await stack.call("GET", f"{URL}/{run_id}", admin)
            run = r.json()
            assert run["state"] == "done" and run["ok"] is True, run
            assert run["events_checked"] == events and run["report"]["drift"] == []
            assert await _attempts(handle) == [2], "the first attempt died with its worker"
            with Session(sqlite_engine) as s:
                rows = s.exec(select(AuditVerification)).all()
            assert [(v.id, v.state) for v in rows] == [(run_id, "done")]
