"""The audit trail verified against the read model: rows edited behind the service's back (a
problem's state, a letter's hash, an item's figure, a commitment's state, an overturned record)
are named field by field, though every hash in the chain still checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from tests.support.console import signed_in, verified
from tests.support.cycles import eventually, launch, sign
from tests.support.world import World, world

EXE = str(Path(sys.executable).parent / "dutyledger")


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
        r = await w.call("GET", "/api/v1/audit/verify", w.admin)  # installation-wide
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    clean = await verify()
    assert clean["ok"] and clean["drift"] == [], json.dumps(clean["drift"])
    with w.stack.engine.begin() as conn:
        conn.execute(text("UPDATE problems SET state = 'closed' WHERE id = :id"), {"id": pid})
        conn.execute(
            text("UPDATE letters SET content_hash = 'forged' WHERE id = :id"),
            {"id": f"{cid}:city"},
        )
        conn.execute(
            text("UPDATE accountability SET overturned = true WHERE id = :id"), {"id": rid}
        )
        # The ledger as of a past day reads the periods: the first one rewritten as closed.
        conn.execute(
            text(
                "UPDATE problem_periods SET state = 'closed' "
                "WHERE problem_id = :id AND state = 'identified'"
            ),
            {"id": pid},
        )
    report = await eventually(verify, what="verify")
    assert not report["ok"] and report["first_bad_event"] is None  # every hash still checks
    named = {(d["entity_type"], d["entity_id"], d["field"]): d for d in report["drift"]}
    assert named[("problem", pid, "state")]["stored"] == "closed"
    assert named[("problem", pid, "state")]["from_events"] == "assigned"
    assert named[("letter", f"{cid}:city", "content_hash")]["stored"] == "forged"
    assert named[("accountability", str(rid), "overturned")]["from_events"] is False
    forged = named[("problem", pid, "periods[0]")]
    assert (forged["stored"]["state"], forged["from_events"]["state"]) == ("closed", "identified")
    assert len(named) == 4, report["drift"]

    admin, csrf = await signed_in(w, w.admin)
    page = await verified(admin, csrf)
    assert 'id="drift"' in page and pid in page and "forged" in page
    # A reader scoped to a subtree gets the verdict, not other subtrees' rows and values.
    scoped = (await w.call("GET", "/api/v1/audit/verify", w.auditor)).json()
    assert not scoped["ok"] and scoped["drift"] == [] and "installation-wide" in scoped["problem"]


async def test_signed_checkpoints_over_the_api_and_verified_offline(
    w: World, tmp_path: Path
) -> None:
    await w.flag()
    url = "/api/v1/audit/checkpoints"
    assert (await w.call("POST", url, w.auditor)).status_code == 403
    r = await w.call("POST", url, w.admin)
    assert r.status_code == 201, r.text
    cp = r.json()
    key = (await w.call("GET", "/api/v1/audit/public-key", None)).json()  # public, no sign-in
    assert key["key_id"] == cp["key_id"] and "BEGIN PUBLIC KEY" in key["pem"]
    listed = (await w.call("GET", url, w.auditor)).json()
    assert listed["items"] == [cp]
    report = (await w.call("GET", "/api/v1/audit/verify", w.auditor)).json()
    assert report["ok"] and report["checkpoints_checked"] == 1, report

    # Offline: the checkpoints kept elsewhere and the public key, with or without the database.
    kept = tmp_path / "checkpoints.json"
    kept.write_text(json.dumps(listed))
    url = w.stack.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "DUTYLEDGER_DATABASE_URL": url}
    args = [EXE, "audit", "verify", "--checkpoints", str(kept), "--public-key", key["public_key"]]
    offline = subprocess.run([*args, "--offline"], env=env, capture_output=True, timeout=120)
    assert offline.returncode == 0, offline.stderr
    online = subprocess.run(args, env=env, capture_output=True, timeout=120)
    assert online.returncode == 0, online.stderr
    assert json.loads(online.stdout)["checkpoints_checked"] == 1
    forged = {**listed, "items": [{**cp, "hash": "0" * 64}]}
    kept.write_text(json.dumps(forged))
    bad = subprocess.run([*args, "--offline"], env=env, capture_output=True, timeout=120)
    assert bad.returncode == 3 and b"signature does not verify" in bad.stdout
