"""Changing the org tree and its people through the real HTTP API, on SQLite and PostgreSQL:
refusals name the field or the state and write nothing; a head who changes mid-year takes the
letter over (signs it, or acknowledges the signed one); a move follows through paths and scopes
between cycles; a leaver's rectifications go back to the org's head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.audit.chain import AuditEvent
from services.changes.contracts import TELL_LETTERS_ACTIVITY, change_workflow_id
from services.core.ids import keyed_id
from services.core.queues import waits_queue_of
from services.notify.models import Notification
from services.org.models import Org, OrgHead
from services.rectification.models import Problem
from tests.support.console import signed_in
from tests.support.cycles import eventually, launch, letter, sign
from tests.support.histories import record
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


@pytest.fixture
async def w_one_thread(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    """A worker with one activity thread (DUTYLEDGER_WORKER_ACTIVITY_THREADS=1)."""
    one = settings.model_copy(update={"worker_activity_threads": 1})
    async with world(one, engine, ts_fresh.client) as w:
        yield w


def written(w: World) -> tuple[int, int, list[tuple[str, str, str | None]]]:
    """What a refused change must leave as it was: the trail, the heads, the tree."""
    with Session(w.stack.engine) as s:
        events = int(s.exec(select(func.count()).select_from(AuditEvent)).one())
        heads = int(s.exec(select(func.count()).select_from(OrgHead)).one())
        tree = list(s.exec(select(Org.id, Org.path, Org.head_person_id).order_by(Org.id)).all())
    return events, heads, tree


async def patch(w: World, token: str, url: str, body: dict[str, Any]) -> Any:
    return await w.call("PATCH", url, token, json=body)


def refused(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, Any] = r.json()
    if field is not None:
        fields = {e["field"] for e in doc.get("errors", [])} | {doc.get("field")}
        assert field in fields, doc
    return doc


async def test_refused_changes_name_the_field_or_state_and_write_nothing(w: World) -> None:
    before = written(w)
    org = "/api/v1/orgs/gb-1"
    refused(await patch(w, w.admin, "/api/v1/orgs/atlantis", {"name": "x"}), 404)
    refused(await patch(w, w.admin, org, {"head_person_id": "nobody"}), 422, "head_person_id")
    refused(await patch(w, w.admin, org, {"deputy_person_id": "p-009"}), 422, "deputy_person_id")
    refused(await patch(w, w.admin, org, {"parent_id": "gb-1-b1"}), 422, "parent_id")
    refused(await patch(w, w.admin, org, {"parent_id": "nowhere"}), 422, "parent_id")
    refused(await patch(w, w.admin, org, {"parent_id": None}), 422, "parent_id")
    refused(await patch(w, w.admin, org, {"name": None}), 422, "name")
    refused(await patch(w, w.admin, org, {"colour": "red"}), 422, "colour")
    refused(await patch(w, w.committee, org, {"name": "x"}), 403)
    scoped = w.stack.token(Role.admin, "gb-1")
    seen = refused(await patch(w, scoped, "/api/v1/orgs/gb-2", {"name": "x"}), 404)
    unknown = refused(await patch(w, scoped, "/api/v1/orgs/gb-9", {"name": "x"}), 404)
    assert seen["detail"].replace("gb-2", "gb-9") == unknown["detail"]
    refused(await patch(w, scoped, "/api/v1/orgs/gb-1-b1", {"parent_id": "gb-2"}), 422, "parent_id")
    refused(await patch(w, scoped, "/api/v1/people/p-014", {"title": "x"}), 404)
    # Someone of another subtree named as head reads as no one; nobody leaves the admin's scope.
    beyond = refused(await patch(w, scoped, org, {"head_person_id": "p-014"}), 422)
    nobody = refused(await patch(w, scoped, org, {"head_person_id": "p-999"}), 422)
    assert (
        beyond["errors"][0]["message"].replace("p-014", "p-999") == nobody["errors"][0]["message"]
    )
    refused(await patch(w, scoped, "/api/v1/people/p-006", {"org_id": None}), 422, "org_id")
    # A leaver's accounts are closed: not the admin's own, not one beyond its scope.
    w.stack.token(Role.admin, None, "p-006")  # p-006 also holds an installation-wide account
    doc = refused(await patch(w, scoped, "/api/v1/people/p-006", {"left_on": "2027-03-01"}), 409)
    assert doc["state"] == "beyond_scope"
    own = w.stack.token(Role.admin, "gb-1", "p-013")
    doc = refused(await patch(w, own, "/api/v1/people/p-013", {"left_on": "2027-03-01"}), 409)
    assert doc["state"] == "own"
    doc = refused(await patch(w, w.admin, "/api/v1/people/p-005", {"left_on": "2027-03-01"}), 409)
    assert "gb-1" in doc["detail"]
    refused(await patch(w, w.admin, "/api/v1/people/p-009", {"org_id": "nowhere"}), 422, "org_id")
    assert written(w) == before

    cycle_id = await launch(w)
    before = written(w)
    for body in ({"parent_id": "gb-2"},):
        doc = refused(await patch(w, w.admin, "/api/v1/orgs/gb-1-b1", body), 409)
        assert doc["cycle_id"] == cycle_id and cycle_id in doc["detail"]
    assert written(w) == before


async def test_a_new_head_signs_the_unsigned_letter_and_acknowledges_the_signed_one(
    w: World,
) -> None:
    cycle_id = await launch(w)
    assert (await sign(w, w.committee, cycle_id, "city")).status_code == 200

    async def issued() -> bool:
        r = await w.call("GET", f"/api/v1/letters/{cycle_id}/gb-1", w.committee)
        return bool(r.status_code == 200)

    await eventually(issued, what="gb-1's letter issued")
    former = w.committee_gb1  # p-005, head of gb-1
    new_head = w.stack.token(Role.member, "gb-1", "p-006")

    r = await patch(w, w.admin, "/api/v1/orgs/gb-1", {"head_person_id": "p-006"})
    assert r.status_code == 200, r.text
    assert r.json()["changed"]["head_person_id"] == ["p-005", "p-006"]
    assert r.json()["letters_told"] == 1
    shown = await letter(w, w.committee, cycle_id, "gb-1")  # at once: read-your-write
    assert shown["head_person_id"] == "p-006" and shown["state"] == "issued"
    refused(await sign(w, former, cycle_id, "gb-1"), 403)
    r = await sign(w, new_head, cycle_id, "gb-1")
    assert r.status_code == 200 and r.json()["signed_by"] == "p-006", r.text

    async def children_issued() -> bool:
        r = await w.call("GET", f"/api/v1/letters?cycle={cycle_id}&org=gb-1&subtree=true", w.admin)
        return bool(r.json()["total"] == 4)

    await eventually(children_issued, what="gb-1's children issued")
    child = await letter(w, w.committee, cycle_id, "gb-1-b1")
    assert child["issuer_person_id"] == "p-006"

    # After the signature: the next head acknowledges the same text; nothing is re-signed.
    r = await patch(w, w.admin, "/api/v1/orgs/gb-1", {"head_person_id": "p-007"})
    assert r.status_code == 200 and r.json()["letters_told"] == 4, r.text
    shown = await letter(w, w.committee, cycle_id, "gb-1")
    assert (shown["state"], shown["signed_by"], shown["handover_to"]) == (
        "signed",
        "p-006",
        "p-007",
    )
    assert (await letter(w, w.committee, cycle_id, "gb-1-b1"))["issuer_person_id"] == "p-007"
    third = w.stack.token(Role.member, "gb-1", "p-007")
    b, _ = await signed_in(w, third)  # the new head's own work lists the primary items
    mine = (await b.get("/me?lang=en")).text
    primary = next(i for i in shown["items"] if i["responsibility"] == "primary")
    assert f"/items/{primary['item_id']}" in mine
    former_work = (await (await signed_in(w, new_head))[0].get("/me?lang=en")).text
    assert f"/items/{primary['item_id']}" not in former_work
    url = f"/api/v1/letters/{cycle_id}/gb-1/acknowledge"
    refused(await w.call("POST", url, new_head, json={"content_hash": shown["content_hash"]}), 403)
    refused(await w.call("POST", url, third, json={"content_hash": "0" * 64}), 409)
    r = await w.call("POST", url, third, json={"content_hash": shown["content_hash"]})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["acknowledged_by"], done["handover_to"], done["signed_by"]) == (
        "p-007",
        None,
        "p-006",
    )
    assert done["content_hash"] == shown["content_hash"]
    refused(await w.call("POST", url, third, json={"content_hash": shown["content_hash"]}), 409)

    r = await w.call("GET", "/api/v1/orgs/gb-1/heads?on=2020-01-01T00:00:00", w.committee)
    assert r.status_code == 200 and r.json() == []  # an instant without a zone is UTC
    heads = (await w.call("GET", "/api/v1/orgs/gb-1/heads", w.committee)).json()
    assert [h["person_id"] for h in heads] == ["p-005", "p-006", "p-007"]
    assert heads[0]["until"] == heads[1]["since"] and heads[-1]["until"] is None
    on = heads[1]["since"]
    r = await w.call("GET", "/api/v1/orgs/gb-1/heads", w.committee, params={"on": on})
    assert [h["person_id"] for h in r.json()] == ["p-006"]
    with Session(w.stack.engine) as s:
        actions = s.exec(
            select(AuditEvent.action)
            .where(AuditEvent.entity_id == "gb-1")
            .order_by(col(AuditEvent.seq))
        ).all()
    assert actions == ["org_change", "org_change"]


async def test_a_change_telling_letters_holds_no_slot_their_reads_need(
    w_one_thread: World,
) -> None:
    """The change waits for the letter it tells in an activity on the ``-waits`` twin, and the
    letter reads its parties and writes on the human queue: the worker's only activity thread
    is held by neither, and the first attempt is answered. (On one queue they waited for that
    slot until the heartbeat timeout, attempt after attempt: CI saw two changes at once stall
    on SQLite's two slots.)"""
    w = w_one_thread
    cycle_id = await launch(w)
    headers = {"Idempotency-Key": "city-head"}
    r = await w.call(
        "PATCH", "/api/v1/orgs/city", w.admin, json={"head_person_id": "p-002"}, headers=headers
    )
    assert r.status_code == 200 and r.json()["letters_told"] == 1, r.text
    assert (await letter(w, w.committee, cycle_id, "city"))["head_person_id"] == "p-002"
    with Session(w.stack.engine) as s:
        admin = s.exec(select(AuditEvent.actor).where(AuditEvent.action == "org_change")).one()
    key = keyed_id("C", admin, headers["Idempotency-Key"])
    handle = w.stack.client.get_workflow_handle(change_workflow_id(key))
    await record(handle, "change-head-told")
    history = await handle.fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == TELL_LETTERS_ACTIVITY
    }
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    assert attempts == [1]
    queues = {
        e.activity_task_scheduled_event_attributes.task_queue.name
        for e in history.events
        if e.event_id in scheduled
    }
    assert queues == {waits_queue_of(w.stack.settings.temporal_task_queue)}


async def test_between_cycles_a_move_follows_and_a_leaver_hands_work_back(w: World) -> None:
    pid = await w.flag()
    await w.walk_to(pid, "in_progress")  # owned by p-009 of gb-1-b1

    r = await patch(w, w.admin, "/api/v1/people/p-009", {"left_on": date.today().isoformat()})
    assert r.status_code == 200, r.text
    assert (await w.call("GET", f"/api/v1/problems/{pid}", w.owner)).status_code == 401

    def handed_back() -> bool:
        with Session(w.stack.engine) as s:
            return s.get(Problem, pid).owner_person_id == "p-008"  # type: ignore[union-attr]

    await eventually(handed_back, what="the rectification handed back")
    with Session(w.stack.engine) as s:
        notes = s.exec(
            select(Notification).where(
                Notification.recipient_person_id == "p-008", col(Notification.entity_id) == pid
            )
        ).all()
    assert any("p-009" in n.body or "left" in n.body for n in notes), [n.body for n in notes]

    r = await patch(w, w.admin, "/api/v1/orgs/gb-1-b1", {"parent_id": "gb-2", "name": "B 2.9"})
    assert r.status_code == 200, r.text
    moved = r.json()["org"]
    assert (moved["path"], moved["depth"], moved["name"]) == ("/city/gb-2/gb-1-b1/", 2, "B 2.9")
    assert (await w.call("GET", f"/api/v1/problems/{pid}", w.committee_gb2)).status_code == 200
    refused(await w.call("GET", f"/api/v1/problems/{pid}", w.committee_gb1), 404)
    r = await w.call("GET", "/api/v1/orgs", w.committee_gb2, params={"under": "gb-2"})
    assert "gb-1-b1" in {o["id"] for o in r.json()["items"]}
    # The rectification's workflow started under gb-1; its next step is written where it is now.
    r = await w.act(pid, "progress", w.other_member, {"note": "after the move", "percent": 50})
    assert r.status_code == 200, r.text
    with Session(w.stack.engine) as s:
        assert s.get(Problem, pid).org_path == "/city/gb-2/gb-1-b1/"  # type: ignore[union-attr]
