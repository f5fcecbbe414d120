"""A head changes mid-year, under time skipping: before the signature (the new head signs, the
former one is refused; reminders before the change went to the former head, after it to the new
one) and after it (the next head acknowledges the signed letter, with its own reminders and
escalation up the chain; the commitments' reminders follow the new head)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.core.clock import deadline_instant
from services.cycle.models import Letter
from tests.support.cycles import YEAR, eventually, launch, letter, sent_slots, sign
from tests.support.histories import record
from tests.support.world import World, world

TZ = "Asia/Shanghai"
SIGN_BY = date(YEAR, 1, 31)
COMMITMENTS_BY = date(YEAR, 2, 28)


@pytest.fixture
async def w(settings, sqlite_engine: Engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, sqlite_engine, ts_fresh.client) as w:
        yield w


def _at(d: date, days: int = 0) -> datetime:
    return deadline_instant(d + timedelta(days=days), TZ)


async def _until(ts: WorkflowEnvironment, at: datetime) -> None:
    await ts.sleep(at - await ts.get_current_time())


async def _head(w: World, person_id: str) -> None:
    r = await w.call("PATCH", "/api/v1/orgs/gb-1", w.admin, json={"head_person_id": person_id})
    assert r.status_code == 200, r.text


async def test_a_head_change_moves_signature_reminders_and_acknowledgement(
    w: World, ts_fresh: WorkflowEnvironment
) -> None:
    cid = await launch(w)
    gb1 = f"{cid}:gb-1"
    assert (await sign(w, w.committee, cid, "city")).status_code == 200

    def issued() -> bool:
        with Session(w.stack.engine) as s:
            return s.get(Letter, gb1) is not None

    await eventually(issued, what="gb-1's letter")

    # Between issue and signature: p-005 got the first reminder, p-006 the rest.
    await _until(ts_fresh, _at(SIGN_BY, -5))
    await eventually(lambda: len(sent_slots(w, gb1, "letter")) == 1, what="the first reminder")
    await _head(w, "p-006")
    await _until(ts_fresh, _at(SIGN_BY, 1))
    await eventually(
        lambda: len(sent_slots(w, gb1, "letter")) == 4, what="reminders and escalation"
    )
    assert sent_slots(w, gb1, "letter") == [
        ("reminder", _at(SIGN_BY, -7), "p-005"),
        ("reminder", _at(SIGN_BY, -3), "p-006"),
        ("reminder", _at(SIGN_BY, -1), "p-006"),
        ("escalation", _at(SIGN_BY), "p-001"),  # up the chain: the city's head
    ]
    former, new_head = w.committee_gb1, w.stack.token(Role.member, "gb-1", "p-006")
    assert (await sign(w, former, cid, "gb-1")).status_code == 403
    r = await sign(w, new_head, cid, "gb-1")
    assert r.status_code == 200 and r.json()["signed_by"] == "p-006", r.text

    # After the signature: p-007 takes over, owes an acknowledgement within a week, is
    # reminded, escalated past it, then acknowledges; the commitments' reminders are theirs.
    await _until(ts_fresh, _at(date(YEAR, 2, 10)))
    await _head(w, "p-007")
    shown = await letter(w, w.committee, cid, "gb-1")
    assert (shown["handover_to"], shown["signed_by"]) == ("p-007", "p-006")
    await _until(ts_fresh, _at(date(YEAR, 2, 18)))
    handover = f"{gb1}:handover"
    await eventually(
        lambda: any(k == "escalation" for k, _, _ in sent_slots(w, handover, "handover")),
        what="the handover's escalation",
    )
    sent = sent_slots(w, handover, "handover")
    assert {p for k, _, p in sent if k == "reminder"} == {"p-007"}, sent
    assert {p for k, _, p in sent if k == "escalation"} == {"p-001"}, sent
    third = w.stack.token(Role.member, "gb-1", "p-007")
    url = f"/api/v1/letters/{cid}/gb-1/acknowledge"
    r = await w.call("POST", url, third, json={"content_hash": shown["content_hash"]})
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "p-007", r.text
    await _until(ts_fresh, _at(COMMITMENTS_BY, 1))
    await eventually(
        lambda: len(sent_slots(w, gb1, "commitments")) >= 4, what="the commitments' deadline"
    )
    assert sent_slots(w, handover, "handover") == sent  # acknowledged: nothing more
    commitments = sent_slots(w, gb1, "commitments")
    assert [p for k, _, p in commitments if k == "reminder"] == ["p-007"] * 3, commitments
    await record(w.stack.client.get_workflow_handle(f"cycle:{cid}:org:gb-1"), "cycle-head-change")
