"""Accountability by hand over the API on the real app and database: a committee records it for
a person in its scope (every refusal names the field or the rule, nothing written), a retry
writes one record, the person concerned appeals once, a committee in scope decides; an
overturned record leaves the person's record but not the trail. Direct responsibility goes to
the org's deputy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from services.audit.chain import AuditEvent
from services.deadlines.accountability import Accountability
from services.notify.models import DeliveryFailure, Notification
from services.org.models import Org
from tests.support.cycles import eventually, item, launch, sign, small_plan
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


def record_body(**over: Any) -> dict[str, Any]:
    return {
        "kind": "admonishment",
        "person_id": "p-008",
        "reason": "branch meetings skipped for a quarter",
        "outcome": "admonishment talk held on 3 March",
        **over,
    }


async def issued(w: World, cid: str, org_id: str) -> dict[str, str]:
    """The org's items by title, once its letter is issued (letters go down level by level)."""

    async def read() -> Any:
        r = await w.call("GET", f"/api/v1/letters/{cid}/{org_id}", w.committee)
        return r.json() if r.status_code == 200 else None

    got = await eventually(read, what=f"{org_id}'s letter")
    return {i["title"]: i["assignee_person_id"] for i in got["items"]}


def count(w: World) -> int:
    with Session(w.stack.engine) as s:
        return int(s.exec(select(func.count()).select_from(Accountability)).one())


async def test_refusals_name_the_field_or_rule_and_write_nothing(w: World) -> None:
    pid = await w.flag()
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (w.committee, record_body(person_id="nobody"), 422, "person_id"),
        (w.committee, record_body(kind="firing"), 422, "kind"),
        (w.committee, record_body(reason=" "), 422, "reason"),
        (w.committee, record_body(problem_id="P-NONE"), 422, "problem_id"),
        (w.committee, record_body(evaluation_id="E-NONE"), 422, "evaluation_id"),
        (w.committee, record_body(problem_id=pid, evaluation_id="E-1"), 422, "evaluation_id"),
        # p-008 is in gb-1's subtree: answered as an unknown person would be
        (w.committee_gb2, record_body(), 422, "in an org of this account's scope"),
        (w.committee_gb2, record_body(person_id="p-014", problem_id=pid), 422, "problem_id"),
        (w.owner, record_body(), 403, "role"),
        (w.auditor, record_body(), 403, "read-only"),
    ]
    for token, body, status, named in cases:
        r = await w.call("POST", "/api/v1/accountability", token, json=body)
        assert r.status_code == status, (body, r.text)
        assert named in r.text, (named, r.text)
    assert count(w) == 0


async def test_record_appeal_and_decision(w: World) -> None:
    pid = await w.flag()
    headers = {"Idempotency-Key": "acc-1"}
    body = record_body(problem_id=pid)
    r = await w.call("POST", "/api/v1/accountability", w.committee_gb1, json=body, headers=headers)
    assert r.status_code == 201, r.text
    rec = r.json()
    assert (rec["kind"], rec["entity_type"], rec["entity_id"]) == ("admonishment", "problem", pid)
    again = await w.call(
        "POST", "/api/v1/accountability", w.committee_gb1, json=body, headers=headers
    )
    assert again.status_code == 200 and again.json()["id"] == rec["id"]
    other = await w.call(
        "POST",
        "/api/v1/accountability",
        w.committee_gb1,
        json=record_body(reason="something else"),
        headers=headers,
    )
    assert other.status_code == 409, other.text
    assert count(w) == 1
    rid = rec["id"]
    # The sibling subtree cannot see it (absent, not forbidden); only the person appeals.
    r = await w.call(
        "POST", f"/api/v1/accountability/{rid}/appeal", w.committee_gb2, json={"reason": "x"}
    )
    assert r.status_code == 404, r.text
    r = await w.call("POST", f"/api/v1/accountability/{rid}/appeal", w.owner, json={"reason": "x"})
    assert r.status_code == 403 and "person concerned" in r.text
    r = await w.call("POST", f"/api/v1/accountability/{rid}/decision", w.committee, json={})
    assert r.status_code in (404, 405)
    r = await w.call(
        "POST",
        f"/api/v1/accountability/{rid}/appeal/decision",
        w.committee,
        json={"decision": "upheld", "reason": "no appeal yet"},
    )
    assert r.status_code == 409 and r.json()["state"] == "none", r.text
    r = await w.call(
        "POST",
        f"/api/v1/accountability/{rid}/appeal",
        w.other_member,
        json={"reason": "the meetings were held; minutes were filed late"},
    )
    assert r.status_code == 200 and r.json()["appeal"]["state"] == "pending", r.text
    r = await w.call(
        "POST", f"/api/v1/accountability/{rid}/appeal", w.other_member, json={"reason": "again"}
    )
    assert r.status_code == 409 and "one appeal only" in r.json()["detail"]
    # The record stands in the person's record while the appeal is pending.
    record = (await w.call("GET", "/api/v1/people/p-008/record", w.committee)).json()
    assert [a["appeal"] for a in record["accountability"]] == ["pending"]
    # A committee below the one that recorded it may not decide: gb-1's committee recorded
    # this one, so gb-1's or the city's decides; the city's record is the city's to decide.
    r = await w.call(
        "POST",
        "/api/v1/accountability",
        w.committee,
        json=record_body(reason="recorded by the city"),
    )
    city_record = r.json()["id"]
    await w.call(
        "POST",
        f"/api/v1/accountability/{city_record}/appeal",
        w.other_member,
        json={"reason": "not me"},
    )
    r = await w.call(
        "POST",
        f"/api/v1/accountability/{city_record}/appeal/decision",
        w.committee_gb1,
        json={"decision": "overturned", "reason": "we like them"},
    )
    assert r.status_code == 403 and "not by a committee below" in r.text, r.text
    r = await w.call(
        "POST",
        f"/api/v1/accountability/{rid}/appeal/decision",
        w.committee_gb1,
        json={"decision": "overturned", "reason": "minutes on file show all meetings held"},
    )
    assert r.status_code == 200 and r.json()["appeal"]["state"] == "overturned", r.text
    record = (await w.call("GET", "/api/v1/people/p-008/record", w.committee)).json()
    assert [a["id"] for a in record["accountability"]] == [city_record]  # rid left it
    listed = (await w.call("GET", "/api/v1/accountability", w.auditor)).json()
    states = {a["id"]: (a["appeal"]["state"], a["overturned"]) for a in listed["items"]}
    assert states == {rid: ("overturned", True), city_record: ("pending", False)}
    with Session(w.stack.engine) as s:
        actions = s.exec(
            select(AuditEvent.action)
            .where(AuditEvent.entity_type == "accountability", AuditEvent.entity_id == str(rid))
            .order_by(col(AuditEvent.seq))
        ).all()
        told = s.exec(
            select(Notification.kind).where(
                Notification.entity_type == "accountability", Notification.entity_id == str(rid)
            )
        ).all()
    assert actions == [
        "accountability_recorded",
        "accountability_appealed",
        "accountability_appeal_decided",
    ]
    # p-008 was told of the record and the decision; the recorder (p-005) of the appeal.
    assert sorted(told) == [
        "accountability_appeal_decided",
        "accountability_appealed",
        "accountability_recorded",
    ]


async def test_direct_responsibility_goes_to_the_deputy(w: World) -> None:
    with Session(w.stack.engine) as s:
        gb1 = s.get(Org, "gb-1")
        assert gb1 is not None and gb1.deputy_person_id == "p-007"  # the demo's deputy secretary
    plan = small_plan()
    direct = item("Study guidance", plan["calendar"]["yearend"], 4, responsibility="direct")
    for kind in ("general_branch", "branch"):
        plan["templates"][kind] = [*plan["templates"][kind], direct]
    cid = await launch(w, plan)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    gb1_items = await issued(w, cid, "gb-1")
    assert gb1_items["Study guidance"] == "p-007"  # the deputy
    assert gb1_items["Mid-year debriefings"] == "p-005"  # primary: the head
    assert (await sign(w, w.committee_gb1, cid, "gb-1")).status_code == 200
    b1_items = await issued(w, cid, "gb-1-b1")
    assert b1_items["Study guidance"] == "p-008"  # no deputy: the head
    # An amendment naming nobody for a direct item gives it to the deputy too.
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/gb-1/items",
        w.committee,
        json={
            "items": [
                item("Study assessment", plan["calendar"]["yearend"], 1, responsibility="direct")
            ],
            "reason": "one more",
        },
    )
    assert r.status_code == 200, r.text
    added = next(i for i in r.json()["items"] if i["title"] == "Study assessment")
    assert added["assignee_person_id"] == "p-007"


async def test_failed_deliveries_are_listed_in_scope(w: World) -> None:
    """Operators see what could not be delivered, in their subtree only; members do not."""
    with Session(w.stack.engine) as s:
        n = Notification(
            dedupe_key="k-fail",
            recipient_person_id="p-008",
            kind="escalation",
            subject="Overdue",
            body="b",
            org_path="/city/gb-1/gb-1-b1/",
        )
        s.add(n)
        s.flush()
        assert n.id is not None
        s.add(
            DeliveryFailure(
                notification_id=n.id,
                channel="webhook",
                org_path=n.org_path,
                state="gave_up",
                permanent=True,
                last_error="webhook: HTTP 410",
                next_attempt_at=None,
                first_failed_at=datetime.now(UTC),
            )
        )
        s.commit()
    url = "/api/v1/notifications/failures"
    seen = (await w.call("GET", f"{url}?state=gave_up", w.auditor)).json()
    assert [(f["dedupe_key"], f["channel"], f["last_error"]) for f in seen["items"]] == [
        ("k-fail", "webhook", "webhook: HTTP 410")
    ]
    assert (await w.call("GET", f"{url}?state=retrying", w.auditor)).json()["total"] == 0
    assert (await w.call("GET", url, w.committee_gb2)).json()["total"] == 0  # another subtree
    assert (await w.call("GET", url, w.owner)).status_code == 403
    assert (await w.call("GET", f"{url}?state=lost", w.auditor)).status_code == 422
