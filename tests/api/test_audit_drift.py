"""The audit trail verified against the read model: rows edited behind the service's back (a
problem's state, a letter's hash, an item's figure, a commitment's state, an overturned record)
are named field by field, though every hash in the chain still checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from tests.support.console import signed_in
from tests.support.cycles import eventually, launch, sign
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


async def test_rows_edited_in_sql_are_named_by_verify(w: World) -> None:
    pid = await w.flag()
    await w.walk_to(pid, "assigned")
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    r = await w.call(
        "POST",
        "/api/v1/accountability",
        w.committee,
        json={"kind": "reminder_talk", "person_id": "p-008", "reason": "late"},
    )
    rid = r.json()["id"]

    async def verify() -> dict:  # type: ignore[type-arg]
        r = await w.call("GET", "/api/v1/audit/verify", w.auditor)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    clean = await verify()
    assert clean["ok"] and clean["drift"] == [], clean
    with w.stack.engine.begin() as conn:
        conn.execute(text("UPDATE problems SET state = 'closed' WHERE id = :id"), {"id": pid})
        conn.execute(
            text("UPDATE letters SET content_hash = 'forged' WHERE id = :id"),
            {"id": f"{cid}:city"},
        )
        conn.execute(
            text("UPDATE accountability SET overturned = true WHERE id = :id"), {"id": rid}
        )
    report = await eventually(verify, what="verify")
    assert not report["ok"] and report["first_bad_event"] is None  # every hash still checks
    named = {(d["entity_type"], d["entity_id"], d["field"]): d for d in report["drift"]}
    assert named[("problem", pid, "state")]["stored"] == "closed"
    assert named[("problem", pid, "state")]["from_events"] == "assigned"
    assert named[("letter", f"{cid}:city", "content_hash")]["stored"] == "forged"
    assert named[("accountability", str(rid), "overturned")]["from_events"] is False
    assert len(named) == 3, report["drift"]

    auditor, _ = await signed_in(w, w.auditor)
    page = (await auditor.get("/ledger/verify?lang=en")).text
    assert 'id="drift"' in page and pid in page and "forged" in page
