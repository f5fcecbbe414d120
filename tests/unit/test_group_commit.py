"""Group commit: many callers' keyed writes share one transaction; each caller is answered after
its batch committed, and a write that fails fails alone."""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.deadlines import DeadlineActivities
from activities.deps import ActivityDeps
from services.audit.chain import AuditEvent, verify_chain
from services.core import group_commit
from services.core.group_commit import GroupCommit
from services.core.settings import Settings
from services.deadlines.accountability import Accountability
from services.deadlines.contracts import (
    DeadlineTarget,
    FireSlotInput,
    ReminderPolicy,
    slot_key,
    slots_for,
)
from services.notify.models import Notification, NotificationDelivery
from services.notify.store import record_notification
from tests.unit.conftest import count_rows
from tests.unit.test_notifications import spec


def commits_of(engine: Engine) -> list[int]:
    seen: list[int] = []

    @event.listens_for(engine, "commit")
    def _count(_conn: Any) -> None:
        seen.append(1)

    return seen


def talk_slot(i: int) -> FireSlotInput:
    """Problem P-i's escalation at 7 days, the one with a reminder talk."""
    due = date(2027, 5, 31)
    slot = next(s for s in slots_for(due, "UTC", ReminderPolicy()) if s.accountability)
    return FireSlotInput(
        target=DeadlineTarget(
            entity_type="problem", entity_id=f"P-{i}", org_id="gb-1-b1", title="Fix", what="x"
        ),
        owner_person_id="p-009",
        due=due,
        timezone="UTC",
        slot=slot,
        dedupe_key=slot_key(f"problem:P-{i}", due, slot),
        fired_at=slot.at,
    )


async def test_a_burst_of_slots_shares_transactions_and_writes_each_once(
    tree_engine: Engine, settings: Settings
) -> None:
    deadlines = DeadlineActivities(ActivityDeps(engine=tree_engine, settings=settings))
    env = ActivityEnvironment()
    slots = [talk_slot(i) for i in range(60)]
    commits = commits_of(tree_engine)
    first = await asyncio.gather(*(env.run(deadlines.fire_deadline_slot, x) for x in slots))
    assert all(r.accountability_created for r in first)
    assert len(commits) < len(slots)  # batched: fewer transactions than slots
    # Every slot again, as retried activities: nothing is written twice.
    again = await asyncio.gather(*(env.run(deadlines.fire_deadline_slot, x) for x in slots))
    assert not any(r.accountability_created for r in again)
    assert [count_rows(tree_engine, m) for m in (Notification, Accountability, AuditEvent)] == [
        60
    ] * 3
    # The log channel's delivery committed with its inbox row: one each, every row sent.
    assert count_rows(tree_engine, NotificationDelivery) == 60
    with Session(tree_engine) as s:
        assert all(n.sent_at is not None for n in s.exec(select(Notification)).all())
        assert verify_chain(s).events_checked == 60


def inbox_row(session: Session, key: str) -> str:
    """A keyed write that fails, after writing, for keys starting with "bad"."""
    record_notification(session, spec(key))
    if key.startswith("bad"):
        raise ValueError(f"{key} is refused")
    return key


async def test_a_failing_write_fails_alone_and_leaves_nothing(tree_engine: Engine) -> None:
    entered, gate = threading.Event(), threading.Event()

    def held_then_inbox_row(session: Session, key: str) -> str:
        if key == "first":
            entered.set()
            gate.wait(10)  # the others queue meanwhile, to be taken as one batch
        return inbox_row(session, key)

    writer: GroupCommit[str, str] = GroupCommit(tree_engine, held_then_inbox_row, name="t")
    commits = commits_of(tree_engine)
    first = asyncio.ensure_future(writer.submit("first"))
    assert await asyncio.to_thread(entered.wait, 10)
    keys = ["a", "b", "bad-1", "c", "d"]
    rest = [asyncio.ensure_future(writer.submit(k)) for k in keys]
    await asyncio.sleep(0)  # each of them queued
    gate.set()
    assert await first == "first"
    outcomes = await asyncio.gather(*rest, return_exceptions=True)
    assert outcomes[:2] + outcomes[3:] == ["a", "b", "c", "d"]
    assert isinstance(outcomes[2], ValueError) and "bad-1 is refused" in str(outcomes[2])
    with Session(tree_engine) as s:
        stored = sorted(s.exec(select(Notification.dedupe_key)).all())
    assert stored == ["a", "b", "c", "d", "first"]  # the failing write's row was rolled back
    # The first batch, then the other five's: tried together, failed, written again with
    # each in a savepoint, in one transaction.
    assert len(commits) == 2


async def test_a_writer_that_fails_fails_its_batch_and_goes_on(
    tree_engine: Engine,
) -> None:
    class WriterBroke(BaseException):
        """Not an Exception: not a write's own failure but the writer's (as MemoryError)."""

    def breaks(session: Session, key: str) -> str:
        if key == "break":
            raise WriterBroke()
        return inbox_row(session, key)

    writer: GroupCommit[str, str] = GroupCommit(tree_engine, breaks, name="t")
    with pytest.raises(WriterBroke):
        await writer.submit("break")
    assert await writer.submit("after") == "after"


async def test_an_idle_writer_ends_and_the_next_write_starts_another(
    tree_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.05)
    writer: GroupCommit[str, str] = GroupCommit(tree_engine, inbox_row, name="test-writer")
    assert await writer.submit("one") == "one"
    first = writer._thread
    assert first is not None
    await asyncio.to_thread(first.join, 5)
    assert not first.is_alive() and writer._thread is None
    assert await writer.submit("two") == "two"
    assert writer._thread is not None and writer._thread is not first
