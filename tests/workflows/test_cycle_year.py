"""A whole year of the annual cycle on a 3-level tree, under time skipping: signing order,
returns and re-signing, amendments, progress, commitments, items decided at their due dates,
missed items flagged as problems, and the year's close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from services.audit.chain import AuditEvent
from services.core.clock import deadline_instant
from services.cycle.models import Cycle, Item, Letter
from services.deadlines.accountability import Accountability
from services.integrity.drift import integrity_report
from services.notify.models import Notification
from services.rectification.models import Problem
from tests.support.cycles import YEAR, eventually, launch, letter, sent_slots, sign
from tests.support.histories import record
from tests.support.world import World, world

TZ = "Asia/Shanghai"


@pytest.fixture
async def w(settings, sqlite_engine: Engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, sqlite_engine, ts_fresh.client) as w:
        w.extra["head_gb1"] = w.committee_gb1  # p-005 heads gb-1
        w.extra["head_b1"] = w.other_member  # p-008 heads gb-1-b1
        yield w


def letters(w: World, cycle_id: str, level: int | None = None) -> list[Letter]:
    with Session(w.stack.engine) as s:
        q = select(Letter).where(Letter.cycle_id == cycle_id)
        if level is not None:
            q = q.where(Letter.level == level)
        return list(s.exec(q.order_by(col(Letter.org_id))).all())


def items_of(w: World, org_id: str) -> dict[str, Item]:
    with Session(w.stack.engine) as s:
        return {i.title: i for i in s.exec(select(Item).where(Item.org_id == org_id)).all()}


def utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt if dt.tzinfo else dt.replace(tzinfo=UTC))


async def test_letters_go_down_level_by_level_with_returns_and_amendments(w: World) -> None:
    """Only the root has a letter until its head signs; gb-1 returns its letter, the issuer
    amends it and gb-1 signs the new text; a signed letter changed later asks for a new
    signature while the children already issued stay as they are."""
    cid = await launch(w)
    assert cid == f"city-{YEAR}"
    await _signing_order(w, cid)
    await _return_amend_and_resign(w, cid)
    await _amending_a_signed_letter(w, cid)


async def test_progress_and_commitments_once_signed(w: World) -> None:
    """Progress by the assignee (any member for a collective item); a pledge returned, then
    approved and published on the public board without personal data; the progress view."""
    cid = await _signed_down_to_b1(w)
    await _progress(w, cid)
    await _commitments(w, cid)
    prog = (await w.call("GET", f"/api/v1/cycles/{cid}", w.committee)).json()
    by_level = {lv["level"]: lv for lv in prog["levels"]}
    assert by_level[0]["letters_signed"] == 1
    assert (by_level[1]["letters_issued"], by_level[1]["letters_signed"]) == (3, 1)
    assert (by_level[2]["orgs"], by_level[2]["letters_issued"], by_level[2]["letters_signed"]) == (
        10,
        3,
        1,
    )
    assert prog["commitments"] == {"approved": 1}


async def test_a_year_decides_items_flags_missed_ones_closes_and_escalates(
    w: World, ts_fresh: WorkflowEnvironment
) -> None:
    """Mid-year items are decided at the end of their due day (Shanghai time), a missed one
    becomes a problem once; at the close every org workflow completes with its summary; the
    deadlines of the year reminded, escalated and recorded accountability exactly once."""
    cid = await _signed_down_to_b1(w)
    await _progress(w, cid)
    await _commitments(w, cid)
    await _midyear(w, ts_fresh, cid)
    await _year_end(w, ts_fresh, cid)
    await _deadlines_of_the_year(w, cid)
    for org in ("city", "gb-1", "gb-1-b1"):
        await record(w.stack.client.get_workflow_handle(f"cycle:{cid}:org:{org}"), f"cycle_{org}")


async def _signed_down_to_b1(w: World) -> str:
    """Launch, then the heads of city, gb-1 and gb-1-b1 sign as their letters arrive."""
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    await eventually(lambda: len(letters(w, cid, 1)) == 3, what="level-1 letters")
    assert (await sign(w, w.extra["head_gb1"], cid, "gb-1")).status_code == 200
    await eventually(lambda: len(letters(w, cid, 2)) == 3, what="gb-1's branches' letters")
    assert (await sign(w, w.extra["head_b1"], cid, "gb-1-b1")).status_code == 200
    return cid


async def _signing_order(w: World, cid: str) -> None:
    head_city, head_gb1 = w.committee, w.extra["head_gb1"]
    # Only the root has a letter; signing below it is refused, saying why.
    assert [x.org_id for x in letters(w, cid)] == ["city"]
    r = await w.call(
        "POST", f"/api/v1/letters/{cid}/gb-1/sign", head_gb1, json={"content_hash": "0" * 64}
    )
    assert r.status_code == 409 and "has not signed" in r.json()["detail"], r.text

    city = await letter(w, head_city, cid, "city")
    assert city["state"] == "issued" and city["version"] == 1 and len(city["items"]) == 2
    # Wrong hash, wrong signer, then the head signs once.
    r = await sign(w, head_city, cid, "city", "f" * 64)
    assert r.status_code == 409 and "content_hash does not match" in r.json()["detail"]
    r = await sign(w, w.admin, cid, "city", city["content_hash"])
    assert r.status_code == 403 and "only the head" in r.json()["detail"]
    r = await sign(w, head_city, cid, "city")
    assert r.status_code == 200 and r.json()["state"] == "signed", r.text
    r = await sign(w, head_city, cid, "city")
    assert r.status_code == 409 and "already signed" in r.json()["detail"]

    # The cascade: the three general branches get their letters, their branches do not yet.
    await eventually(lambda: len(letters(w, cid, 1)) == 3, what="level-1 letters")
    assert len(letters(w, cid, 2)) == 0


async def _return_amend_and_resign(w: World, cid: str) -> None:
    head_city, head_gb1, head_b1 = w.committee, w.extra["head_gb1"], w.extra["head_b1"]
    # gb-1's head returns the letter; the issuer (city's head) amends it; gb-1 signs v2.
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/gb-1/return",
        head_gb1,
        json={"reason": "12 meetings is not realistic for us"},
    )
    assert r.status_code == 200 and r.json()["state"] == "returned", r.text
    r = await sign(w, head_gb1, cid, "gb-1")
    assert r.status_code == 409 and "returned" in r.json()["detail"]
    gb1 = await letter(w, head_gb1, cid, "gb-1")
    meetings = next(i for i in gb1["items"] if i["title"] == "Branch meetings")
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/gb-1/items",
        head_gb1,
        json={"items": [{**_template(meetings), "item_id": meetings["item_id"]}]},
    )
    assert r.status_code == 403, r.text  # only the issuer amends
    changed = {**_template(meetings), "item_id": meetings["item_id"]}
    changed["indicator"] = {**changed["indicator"], "target": 10}
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/gb-1/items",
        head_city,
        json={"items": [changed], "reason": "10 meetings agreed"},
    )
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["state"] == "issued"
    assert v2["content_hash"] != gb1["content_hash"]
    r = await sign(w, head_gb1, cid, "gb-1", gb1["content_hash"])  # the old text: refused
    assert r.status_code == 409 and "content_hash does not match" in r.json()["detail"]
    r = await sign(w, head_gb1, cid, "gb-1", v2["content_hash"])
    assert r.status_code == 200 and r.json()["signed_version"] == 2, r.text

    await eventually(lambda: len(letters(w, cid, 2)) == 3, what="gb-1's branches' letters")
    assert {x.parent_org_id for x in letters(w, cid, 2)} == {"gb-1"}
    r = await sign(w, head_b1, cid, "gb-1-b1")
    assert r.status_code == 200, r.text


async def _amending_a_signed_letter(w: World, cid: str) -> None:
    head_city, head_gb1, head_b1 = w.committee, w.extra["head_gb1"], w.extra["head_b1"]
    # A change to a signed letter asks for a new signature; the children already issued stay.
    gb1 = await letter(w, head_gb1, cid, "gb-1")
    added = _template(gb1["items"][0]) | {"title": "Grassroots research", "due": f"{YEAR}-12-15"}
    r = await w.call(
        "POST", f"/api/v1/letters/{cid}/gb-1/items", head_city, json={"items": [added]}
    )
    assert r.status_code == 200 and r.json()["version"] == 3 and r.json()["state"] == "issued"
    assert len(r.json()["items"]) == 3
    b1 = await letter(w, head_b1, cid, "gb-1-b1")
    assert b1["version"] == 1 and b1["state"] == "signed"
    assert len(letters(w, cid, 2)) == 3
    assert (await sign(w, head_gb1, cid, "gb-1")).status_code == 200


async def _progress(w: World, cid: str) -> None:
    head_b1, member_b1 = w.extra["head_b1"], w.owner
    b1 = await letter(w, head_b1, cid, "gb-1-b1")
    # Progress on gb-1-b1's items: by the assignee, or any member for a collective item.
    b1_items = {i["title"]: i for i in b1["items"]}
    mid, meetings_b1, talk = (
        b1_items["Mid-year debriefings"],
        b1_items["Branch meetings"],
        b1_items["Integrity talk"],
    )
    assert mid["assignee_person_id"] == "p-008" and meetings_b1["assignee_person_id"] is None
    assert talk["assignee_person_id"] == "p-009"
    r = await w.call(
        "POST",
        f"/api/v1/items/{mid['item_id']}/progress",
        member_b1,
        json={"actual": 1, "note": "one held"},
    )
    assert r.status_code == 403, r.text
    r = await w.call(
        "POST",
        f"/api/v1/items/{mid['item_id']}/progress",
        head_b1,
        json={"actual": 2, "note": "both held", "evidence": [await w.upload(head_b1)]},
    )
    assert r.status_code == 200 and r.json()["state"] == "in_progress", r.text
    r = await w.call(
        "POST",
        f"/api/v1/items/{meetings_b1['item_id']}/progress",
        member_b1,
        json={"actual": 5, "note": "five so far"},
    )
    assert r.status_code == 200 and r.json()["actual"] == 5, r.text
    # The integrity talk's standard asks for proof: reaching its target needs evidence.
    r = await w.call(
        "POST", f"/api/v1/items/{talk['item_id']}/progress", member_b1, json={"actual": 1}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "evidence", r.text
    # The debriefings reached their target: the issuer (gb-1's head, p-005) is asked to confirm.
    with Session(w.stack.engine) as s:
        asked = s.exec(
            select(Notification).where(
                Notification.recipient_person_id == "p-005",
                col(Notification.subject).startswith("Achievement to confirm"),
            )
        ).all()
    assert len(asked) == 1 and "Mid-year debriefings" in asked[0].body


async def _commitments(w: World, cid: str) -> None:
    head_gb1, member_b1 = w.extra["head_gb1"], w.owner
    b1 = await letter(w, w.extra["head_b1"], cid, "gb-1-b1")
    talk = next(i for i in b1["items"] if i["title"] == "Integrity talk")
    # Commitments: a member pledges; the issuer (gb-1's head) returns, then approves it.
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/gb-1-b1/commitments",
        member_b1,
        json={"text": "I will give the integrity talk in March", "item_ids": [talk["item_id"]]},
    )
    assert r.status_code == 201 and r.json()["state"] == "submitted", r.text
    com = r.json()["commitment_id"]
    r = await w.call("POST", f"/api/v1/commitments/{com}/approve", member_b1)
    assert r.status_code == 403
    r = await w.call(
        "POST",
        f"/api/v1/commitments/{com}/return",
        head_gb1,
        json={"reason": "name the month and the audience"},
    )
    assert r.status_code == 200 and r.json()["state"] == "returned", r.text
    board = await w.call("GET", "/public/v1/commitments?org=gb-1-b1", None)
    assert board.status_code == 200 and board.json()["total"] == 0
    r = await w.call(
        "POST",
        f"/api/v1/commitments/{com}/resubmit",
        member_b1,
        json={"text": "I will give the integrity talk to all members in March"},
    )
    assert r.status_code == 200 and r.json()["state"] == "submitted", r.text
    r = await w.call("POST", f"/api/v1/commitments/{com}/approve", head_gb1)
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    board = (await w.call("GET", "/public/v1/commitments?org=gb-1-b1", None)).json()
    assert board["total"] == 1
    shown = board["items"][0]
    assert shown["text"].endswith("in March") and shown["items"] == ["Integrity talk"]
    assert "@" not in str(board) and "token" not in str(board) and "p-009" not in str(board)


async def _midyear(w: World, ts_fresh: WorkflowEnvironment, cid: str) -> None:
    head_b1 = w.extra["head_b1"]
    b1 = await letter(w, head_b1, cid, "gb-1-b1")
    mid = next(i for i in b1["items"] if i["title"] == "Mid-year debriefings")
    # Mid-year: items due 30 June are decided at the end of that day, Shanghai time.
    now = await ts_fresh.get_current_time()
    mid_end = deadline_instant(date(YEAR, 6, 30), TZ)
    await ts_fresh.sleep(mid_end - now + timedelta(days=2))
    await eventually(
        lambda: items_of(w, "gb-1-b1")["Mid-year debriefings"].state == "achieved",
        what="mid-year decision",
    )
    b1_rows = items_of(w, "gb-1-b1")
    decided_at = utc(b1_rows["Mid-year debriefings"].decided_at)
    assert decided_at is not None and abs(decided_at - mid_end) < timedelta(minutes=1)
    assert b1_rows["Branch meetings"].state == "in_progress"  # due in December
    await eventually(lambda: items_of(w, "gb-1")["Mid-year debriefings"].state == "missed")
    await eventually(
        lambda: _problem(w, "gb-1", "Mid-year debriefings") is not None,
        what="a missed item flags a problem",
    )
    p = _problem(w, "gb-1", "Mid-year debriefings")
    assert p is not None and p.source == "indicator" and p.cycle_id == cid
    r = await w.call(
        "POST",
        f"/api/v1/items/{mid['item_id']}/progress",
        head_b1,
        json={"actual": 3, "note": "late"},
    )
    assert r.status_code == 409 and "decided" in r.json()["detail"]
    await _confirmation(w, mid["item_id"])


async def _confirmation(w: World, item_id: str) -> None:
    """Only the issuer confirms or rejects an achievement; a rejection says why and tells the
    assignee; a confirmation is final and a repeated one changes nothing."""
    head_gb1, head_b1 = w.extra["head_gb1"], w.extra["head_b1"]
    url = f"/api/v1/items/{item_id}/confirmation"
    r = await w.call("POST", url, head_b1, json={"decision": "confirmed"})
    assert r.status_code == 403 and "parent org" in r.json()["detail"], r.text
    r = await w.call("POST", url, head_gb1, json={"decision": "rejected"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text
    r = await w.call(
        "POST", url, head_gb1, json={"decision": "rejected", "reason": "attach the minutes"}
    )
    assert r.status_code == 200 and r.json()["confirmation"] == "rejected", r.text
    assert r.json()["confirmation_reason"] == "attach the minutes"
    with Session(w.stack.engine) as s:
        told = s.exec(
            select(Notification).where(
                Notification.recipient_person_id == "p-008",
                col(Notification.subject).startswith("Achievement not confirmed"),
            )
        ).all()
    assert len(told) == 1 and "attach the minutes" in told[0].body
    for _ in range(2):  # a retried confirmation answers the same, writes one event
        r = await w.call("POST", url, head_gb1, json={"decision": "confirmed"})
        assert r.status_code == 200 and r.json()["confirmation"] == "confirmed", r.text
        assert r.json()["confirmed_by"] == "p-005"
    r = await w.call("POST", url, head_gb1, json={"decision": "rejected", "reason": "changed"})
    assert r.status_code == 409 and r.json()["state"] == "confirmed", r.text
    with Session(w.stack.engine) as s:
        actions = s.exec(
            select(AuditEvent.action).where(col(AuditEvent.action).startswith("achievement_"))
        ).all()
    assert sorted(actions) == ["achievement_confirmed", "achievement_rejected"]


async def _year_end(w: World, ts_fresh: WorkflowEnvironment, cid: str) -> None:
    # Year end: every org workflow closes; unreached items are missed; summaries written.
    now = await ts_fresh.get_current_time()
    await ts_fresh.sleep(deadline_instant(date(YEAR, 12, 31), TZ) - now + timedelta(days=1))
    for org in ("city", "gb-1", "gb-2", "gb-3", "gb-1-b1", "gb-1-b2", "gb-1-b3"):
        handle = w.stack.client.get_workflow_handle(f"cycle:{cid}:org:{org}")
        await eventually(
            lambda h=handle: _status(h),  # type: ignore[misc]
            timeout=60,
            what=f"{org} closes",
        )
    with Session(w.stack.engine) as s:
        assert s.get(Cycle, cid).state == "closed"  # type: ignore[union-attr]
        rows = s.exec(select(Letter).where(Letter.cycle_id == cid)).all()
        assert len(rows) == 7 and all(x.closed_at is not None and x.summary for x in rows)
        assert {x.state for x in rows if x.org_id in ("gb-2", "gb-3")} == {"issued"}
        states = dict(s.exec(select(Item.state, func.count()).group_by(Item.state)).all())
        assert set(states) <= {"achieved", "missed"}
        assert states["achieved"] == 1  # gb-1-b1's mid-year debriefings, nothing else reached
        missed = s.exec(select(Item.id).where(Item.state == "missed")).all()
        flagged = s.exec(select(Problem.item_id).where(Problem.source == "indicator")).all()
        assert sorted(missed) == sorted(
            str(x) for x in flagged
        )  # each missed item flagged exactly once
        # Every letter was issued once; each reminder slot was sent once.
        issues = s.exec(select(func.count()).where(AuditEvent.action == "issue")).one()
        assert issues == 7
        keys = s.exec(select(Notification.dedupe_key)).all()
        assert len(keys) == len(set(keys))
        report = integrity_report(s)
        assert report.ok, report.drift[:5] or report.problem


async def _deadlines_of_the_year(w: World, cid: str) -> None:
    # Deadlines of the year: an unsigned letter reminds its head, then escalates up the chain.
    sign_by = date(YEAR, 1, 31)
    assert sent_slots(w, f"{cid}:gb-2") == [
        ("reminder", _at(sign_by, -7), "p-014"),
        ("reminder", _at(sign_by, -3), "p-014"),
        ("reminder", _at(sign_by, -1), "p-014"),
        ("escalation", _at(sign_by, 0), "p-001"),  # gb-2's head → the city's head
        ("escalation", _at(sign_by, 3), "p-001"),
        ("escalation", _at(sign_by, 7), "p-001"),
        ("escalation", _at(sign_by, 14), "p-001"),
    ]
    assert sent_slots(w, f"{cid}:city") == []  # signed in time: nothing to remind
    with Session(w.stack.engine) as s:
        gb2 = s.get(Letter, f"{cid}:gb-2")
        assert gb2 is not None and gb2.overdue_level == 4
        acc = s.exec(
            select(Accountability.kind, Accountability.person_id, Accountability.overdue_days)
            .where(Accountability.entity_id == f"{cid}:gb-2")
            .order_by(col(Accountability.overdue_days))
        ).all()
        assert [tuple(a) for a in acc] == [
            ("reminder_talk", "p-014", 7),
            ("written_inquiry", "p-014", 14),
        ]
    prog = (await w.call("GET", f"/api/v1/cycles/{cid}", w.committee)).json()
    # gb-2, gb-3, gb-1-b2 and gb-1-b3 never signed: all four escalated to the last step.
    assert prog["overdue"]["letters"] == {"4": 4}
    assert {lv["level"]: lv["letters_overdue"] for lv in prog["levels"]} == {0: 0, 1: 2, 2: 2}
    # Commitments: gb-1 signed but pledged nothing (reminded, then escalated); gb-1-b1 pledged.
    commitments_by = date(YEAR, 2, 28)
    got = sent_slots(w, f"{cid}:gb-1", entity_type="commitments")
    assert got[:4] == [
        ("reminder", _at(commitments_by, -7), "p-005"),
        ("reminder", _at(commitments_by, -3), "p-005"),
        ("reminder", _at(commitments_by, -1), "p-005"),
        ("escalation", _at(commitments_by, 0), "p-001"),
    ]
    assert sent_slots(w, f"{cid}:gb-1-b1", entity_type="commitments") == []
    # Items: one reminder per due date and person before the due date, listing that person's
    # open items; none for an item already reached.
    end, b1_letter = date(YEAR, 12, 15), f"{cid}:gb-1-b1"
    assert sent_slots(w, f"{b1_letter}:{end}:p-009", entity_type="items") == [
        ("reminder", _at(end, d), "p-009") for d in (-7, -3, -1)
    ]
    meetings_reminders = sent_slots(w, f"{b1_letter}:{end}:p-008", entity_type="items")
    assert meetings_reminders == [("reminder", _at(end, d), "p-008") for d in (-7, -3, -1)]
    mid_due = date(YEAR, 6, 30)
    assert sent_slots(w, f"{b1_letter}:{mid_due}:p-008", entity_type="items") == []


async def _status(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


def _at(d: date, days: int) -> datetime:
    return deadline_instant(d + timedelta(days=days), TZ)


def _problem(w: World, org: str, title: str) -> Problem | None:
    with Session(w.stack.engine) as s:
        return s.exec(
            select(Problem).where(Problem.org_id == org, Problem.title == f"Missed: {title}")
        ).first()


def _template(i: dict) -> dict:  # type: ignore[type-arg]
    keys = ("category", "responsibility", "title", "indicator", "due", "assignee_person_id")
    return {k: i[k] for k in keys}
