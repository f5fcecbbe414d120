"""A verification of the audit trail run by a worker: asked for, answered at once, read back
once done; the same verdict and report as the synchronous one; a retry is the same run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from services.integrity.contracts import (
    VERIFICATION_WORKFLOW,
    VerificationInput,
    verification_workflow_id,
)
from tests.support.console import signed_in
from tests.support.cycles import eventually
from tests.support.histories import record
from tests.support.world import World, world

URL = "/api/v1/audit/verifications"


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


async def _finished(w: World, run_id: str, token: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        r = await w.call("GET", f"{URL}/{run_id}", token)
        assert r.status_code == 200, r.text
        run: dict[str, Any] = r.json()
        return run if run["state"] != "running" else None

    return await eventually(done, what=f"verification {run_id}")  # type: ignore[no-any-return]


async def test_a_run_in_the_background_gives_the_synchronous_verdict(w: World) -> None:
    pid = await w.flag()
    await w.walk_to(pid, "assigned")
    asked = await w.call("POST", URL, w.admin, headers={"Idempotency-Key": "first"})
    assert asked.status_code == 202, asked.text
    run = asked.json()
    assert run["state"] in ("running", "done") and run["requested_by"]
    assert asked.headers["location"] == f"{URL}/{run['id']}"
    again = await w.call("POST", URL, w.admin, headers={"Idempotency-Key": "first"})
    assert again.status_code == 200 and again.json()["id"] == run["id"]  # the same run

    clean = await _finished(w, run["id"], w.admin)
    await record(
        w.stack.client.get_workflow_handle(verification_workflow_id(run["id"])),
        "audit-verification",
    )
    sync = (await w.call("GET", "/api/v1/audit/verify", w.admin)).json()
    assert clean["state"] == "done" and clean["ok"] is True and clean["failure"] is None
    assert clean["report"] == sync and clean["events_checked"] == sync["events_checked"] > 0

    with w.stack.engine.begin() as conn:
        conn.execute(text("UPDATE problems SET state = 'closed' WHERE id = :id"), {"id": pid})
    r = await w.call("POST", URL, w.auditor)  # no key: a run of its own
    assert r.status_code == 202, r.text
    second = r.json()
    assert second["id"] != run["id"]
    scoped = await _finished(w, second["id"], w.auditor)
    assert scoped["ok"] is False and scoped["report"]["drift"] == []  # a subtree's reader
    whole = (await w.call("GET", f"{URL}/{second['id']}", w.admin)).json()
    named = {(d["entity_type"], d["entity_id"], d["field"]) for d in whole["report"]["drift"]}
    assert named == {("problem", pid, "state")}

    listed = (await w.call("GET", URL, w.auditor)).json()
    assert [r["id"] for r in listed["items"]] == [second["id"], run["id"]]  # newest first
    assert listed["total"] == 2 and all(r["report"] is None for r in listed["items"])
    assert [r["ok"] for r in listed["items"]] == [False, True]


async def test_only_auditors_and_admins_verify_and_unknown_runs_are_named(w: World) -> None:
    for method, url in (("POST", URL), ("GET", URL), ("GET", f"{URL}/nope")):
        r = await w.call(method, url, w.committee)
        assert r.status_code == 403, (method, url, r.text)
    r = await w.call("GET", f"{URL}/nope", w.auditor)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "verification_id"
    r = await w.call("GET", f"{URL}/{'x' * 65}", w.auditor)
    assert r.status_code == 422, r.text
    assert (await w.call("GET", URL, w.auditor)).json()["total"] == 0


async def test_a_run_that_gave_up_says_why_and_a_stale_one_blocks_nothing(
    w: World, ts_fresh: WorkflowEnvironment
) -> None:
    await w.flag()
    with w.stack.engine.begin() as conn:  # a run whose workflow is gone (terminated, say)
        conn.execute(
            text(
                "INSERT INTO audit_verifications (id, requested_by, requested_at, state) "
                "VALUES ('AV-STALE', 'acc-x', '2026-01-01 00:00:00', 'running')"
            )
        )
        conn.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    try:
        r = await w.call("POST", URL, w.auditor)
        assert r.status_code == 202, r.text  # a new run: the stale one is not going on
        run_id = r.json()["id"]
        assert run_id != "AV-STALE"
        # Three attempts, 10 and 20 s apart: the test server's clock skips the waits.
        await ts_fresh.sleep(40)
        failed = await _finished(w, run_id, w.auditor)
    finally:
        with w.stack.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))
    assert failed["state"] == "failed" and failed["ok"] is None and failed["report"] is None
    reason = failed["failure"]
    assert reason.startswith("gave up after 3 attempts (") and "Error" in reason, reason
    assert "audit_events" not in reason  # the kind of failure, not the database's words
    auditor, _ = await signed_in(w, w.auditor)
    page = (await auditor.get(f"/ledger/verify/{run_id}?lang=en")).text
    assert (
        "verdict-failed" in page
        and "could not finish" in page
        and 'http-equiv="refresh"' not in page
    )
    stale = (await w.call("GET", f"{URL}/AV-STALE", w.auditor)).json()
    assert stale["state"] == "failed" and stale["finished_at"] is not None
    assert "no longer known to Temporal" in stale["failure"], stale


async def test_a_run_cut_short_in_temporal_is_failed_not_running_for_good(w: World) -> None:
    """An operator terminates a run's workflow: its row would say ``running`` for good and its
    console page refresh itself forever. Read, it is recorded failed, saying how."""
    inp = VerificationInput(
        verification_id="AV-CUT", requested_by="acc-x", requested_at=datetime(2026, 1, 1)
    )
    handle = await w.stack.client.start_workflow(  # on a queue no worker polls: it never runs
        VERIFICATION_WORKFLOW, inp, id=verification_workflow_id("AV-CUT"), task_queue="nobody"
    )
    with w.stack.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_verifications (id, requested_by, requested_at, state) "
                "VALUES ('AV-CUT', 'acc-x', '2026-01-01 00:00:00', 'running')"
            )
        )
    r = await w.call("GET", f"{URL}/AV-CUT", w.auditor)
    assert r.json()["state"] == "running", r.text  # its workflow still runs (waits)
    await handle.terminate(reason="an operator's mistake")

    auditor, _ = await signed_in(w, w.auditor)
    page = (await auditor.get("/ledger/verify/AV-CUT?lang=en")).text
    assert "verdict-failed" in page and 'http-equiv="refresh"' not in page
    assert "its workflow was terminated in Temporal" in page
    listed = (await w.call("GET", URL, w.auditor)).json()["items"]
    assert [(r["id"], r["state"]) for r in listed] == [("AV-CUT", "failed")]
    r = await w.call("POST", URL, w.auditor)
    assert r.status_code == 202 and r.json()["id"] != "AV-CUT", r.text  # blocks nothing
