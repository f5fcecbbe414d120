"""Durable timers of a rectification under time skipping: reminders and escalations exactly at
their instants (end of day in the timezone), rescheduled by an extension, cancelled by closure,
and the re-check after closure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from services.core.clock import deadline_instant
from services.deadlines.accountability import Accountability
from services.integrity.drift import integrity_report
from services.notify.models import Notification
from services.rectification.models import Problem
from tests.support.cycles import eventually
from tests.support.histories import record
from tests.support.world import OWNER, World, world

TZ = "Asia/Shanghai"


@pytest.fixture
async def w(settings, sqlite_engine: Engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, sqlite_engine, ts_fresh.client) as w:
        yield w


async def workflow_today(env: WorkflowEnvironment) -> date:
    return (await env.get_current_time()).astimezone(ZoneInfo(TZ)).date()


def notes(w: World, pid: str) -> list[Notification]:
    with Session(w.stack.engine) as s:
        q = (
            select(Notification)
            .where(Notification.entity_id == pid)
            .order_by(col(Notification.scheduled_for))
        )
        return list(s.exec(q).all())


async def settle(w: World, pid: str, count: int, timeout: float = 20) -> list[Notification]:
    """Wait (real time) until ``count`` notifications exist for ``pid``: activities run for real."""
    for _ in range(int(timeout * 10)):
        found = notes(w, pid)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    return notes(w, pid)


def at(d0: date, days: int) -> datetime:
    return deadline_instant(d0 + timedelta(days=days), TZ)


def utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt if dt.tzinfo else dt.replace(tzinfo=UTC))


async def test_due_in_60_days_never_acted_on(w: World, ts_fresh: WorkflowEnvironment) -> None:
    d0 = await workflow_today(ts_fresh)
    pid = await w.flag(due=(d0 + timedelta(days=60)).isoformat())
    assert (await w.act(pid, "confirm", w.committee, {"owner_person_id": OWNER})).status_code == 200
    await ts_fresh.sleep(timedelta(days=80))
    got = await settle(w, pid, 7)
    assert [(n.kind, utc(n.scheduled_for), n.recipient_person_id) for n in got] == [
        ("reminder", at(d0, 53), OWNER),
        ("reminder", at(d0, 57), OWNER),
        ("reminder", at(d0, 59), OWNER),
        ("escalation", at(d0, 60), "p-008"),  # the branch's head
        ("escalation", at(d0, 63), "p-005"),  # the general branch's head
        ("escalation", at(d0, 67), "p-001"),  # the city committee's head
        ("escalation", at(d0, 74), "p-001"),  # the root: no one higher
    ]
    # Each timer fired at its instant (workflow time), never early, within the server's tick.
    for n in got:
        lag = utc(n.fired_at) - utc(n.scheduled_for)  # type: ignore[operator]
        assert timedelta(0) <= lag < timedelta(seconds=1), (n.dedupe_key, lag)
    # End of day in Shanghai is 15:59:59 UTC.
    assert all(utc(n.scheduled_for).time().isoformat() == "15:59:59" for n in got)  # type: ignore[union-attr]
    with Session(w.stack.engine) as s:
        acc = s.exec(select(Accountability).order_by(col(Accountability.overdue_days))).all()
        assert [(a.kind, a.overdue_days, a.person_id, a.org_id, a.entity_id) for a in acc] == [
            ("reminder_talk", 7, OWNER, "gb-1-b1", pid),
            ("written_inquiry", 14, OWNER, "gb-1-b1", pid),
        ]
        assert s.get(Problem, pid).overdue_level == 4  # type: ignore[union-attr]
        report = integrity_report(s)  # the overdue level rebuilt from the escalation events
        assert report.ok, report.drift[:5] or report.problem
    r = await w.call("GET", f"/api/v1/problems/{pid}/timeline", w.auditor)
    assert [e["action"] for e in r.json()] == [
        "flag",
        "confirm",
        "escalate",
        "escalate",
        "escalate",
        "escalate",
    ]
    r = await w.call("GET", "/api/v1/accountability", w.committee, params={"org": "gb-1"})
    assert r.json()["total"] == 2
    # A running workflow's history so far (reminders, escalations) for the replay test.
    await record(ts_fresh.client.get_workflow_handle(f"rect:{pid}"), "rectification-escalations")
    r = await w.call("GET", "/api/v1/notifications", w.owner)
    assert r.json()["total"] == 3 and all(n["channels"] == ["log"] for n in r.json()["items"])


async def test_extension_on_day_50_moves_every_later_reminder(
    w: World, ts_fresh: WorkflowEnvironment
) -> None:
    d0 = await workflow_today(ts_fresh)
    pid = await w.flag(due=(d0 + timedelta(days=60)).isoformat())
    await w.walk_to(pid, "in_progress")
    await ts_fresh.sleep(timedelta(days=50))
    new_due = (d0 + timedelta(days=90)).isoformat()
    r = await w.act(pid, "extension", w.owner, {"new_due": new_due, "reason": "parts delayed"})
    assert r.status_code == 200
    assert (await w.act(pid, "approve-extension", w.committee, {})).json()["due"] == new_due
    await ts_fresh.sleep(timedelta(days=45))  # to day 95
    got = await settle(w, pid, 5)
    assert [(n.kind, utc(n.scheduled_for)) for n in got] == [
        ("reminder", at(d0, 83)),
        ("reminder", at(d0, 87)),
        ("reminder", at(d0, 89)),
        ("escalation", at(d0, 90)),
        ("escalation", at(d0, 93)),
    ]
    await eventually(lambda: _level(w, pid) == 2, what="level 2 on the new due date")
    with Session(w.stack.engine) as s:
        report = integrity_report(s)  # the extension restarted the levels, in events and rows
        assert report.ok, report.drift[:5] or report.problem


async def test_closure_on_day_20_cancels_everything(
    w: World, ts_fresh: WorkflowEnvironment
) -> None:
    d0 = await workflow_today(ts_fresh)
    pid = await w.flag(due=(d0 + timedelta(days=60)).isoformat())
    await w.walk_to(pid, "in_progress")
    await ts_fresh.sleep(timedelta(days=20))
    await w.walk_to_closed_from_in_progress(pid)
    await ts_fresh.sleep(timedelta(days=70))
    await asyncio.sleep(1)
    assert [n.kind for n in notes(w, pid)] == []  # the re-check is at day 110: not yet


async def test_recheck_after_closure(w: World, ts_fresh: WorkflowEnvironment) -> None:
    pid = await w.flag()
    await w.walk_to(pid, "closed")
    r = await w.call("GET", f"/api/v1/problems/{pid}", w.committee)
    recheck_due = date.fromisoformat(r.json()["recheck_due"])
    assert (recheck_due - await workflow_today(ts_fresh)).days == 90
    await ts_fresh.sleep(timedelta(days=91))
    got = await settle(w, pid, 1)
    assert [(n.kind, n.recipient_person_id) for n in got] == [("recheck", "p-001")]
    # A failed re-check reopens; after the fix, a held re-check ends the workflow.
    r = await w.act(
        pid, "recheck", w.committee, {"held": False, "comment": "minutes missing again"}
    )
    assert r.json()["state"] == "in_progress"
    await w.walk_to_closed_from_in_progress(pid)
    r = await w.act(pid, "recheck", w.committee, {"held": True})
    assert r.json()["state"] == "closed" and not r.json()["recheck_open"]
    handle = ts_fresh.client.get_workflow_handle(f"rect:{pid}")
    result = await handle.result()
    await record(handle, "rectification-recheck")
    assert result["state"] == "closed"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert (await w.act(pid, "reopen", w.committee, {"reason": "x"})).status_code == 409


def _level(w: World, pid: str) -> int:
    with Session(w.stack.engine) as s:
        p = s.get(Problem, pid)
        return p.overdue_level if p else -1
