"""The one deadline mechanism every workflow uses: durable timers for reminders and escalations.

A ``DeadlineWatch`` lives inside the owning workflow (org, letter or rectification) and runs as a
workflow task (``asyncio`` inside the deterministic loop). It sleeps until its next slot, fires it
through the ``fire_deadline_slot`` activity, and wakes early when the owner calls ``reschedule``
(a new due date or a new owner) or ``cancel`` (signed, approved, closed). Its state is a small
pydantic model the workflow carries across continue-as-new.

Rules:
- Slots already in the past when a deadline is armed (start or new due date) are not sent late,
  except the most recent escalation, which fires at once so the overdue level is right.
- A slot fires at most once per due date (its key includes the due date): a new owner keeps the
  due date, so only the remaining slots go to the new owner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.deadlines.contracts import (
        FIRE_SLOT_ACTIVITY,
        FireSlotInput,
        Slot,
        SlotKind,
        slot_key,
        slots_for,
    )
from services.deadlines.contracts import DeadlineState

# Runs recorded before slots fired as local activities keep their activity tasks on replay.
LOCAL_FIRE_PATCH = "deadline-local-activity"


class DeadlineWatch:
    def __init__(self, state: DeadlineState) -> None:
        self.state = state
        self._changed = False
        self._task: asyncio.Task[None] | None = None
        # Told the new overdue level after each escalation (search attributes follow it).
        self.on_escalation: Callable[[int], None] | None = None

    @property
    def entity_key(self) -> str:
        return f"{self.state.target.entity_type}:{self.state.target.entity_id}"

    def start(self) -> None:
        if self.state.armed_at is None:
            self.state.armed_at = workflow.now()
        if not self.state.cancelled:
            self._task = asyncio.create_task(self._run())

    def reschedule(self, *, due: date | None = None, owner_person_id: str | None = None) -> None:
        if due is not None and due != self.state.due:
            self.state.due = due
            self.state.armed_at = workflow.now()
            self.state.overdue_level = 0
        if owner_person_id is not None:
            self.state.owner_person_id = owner_person_id
        self._changed = True

    def cancel(self) -> None:
        """Stop sending anything (work done or handed in); ``resume`` undoes it."""
        self.state.cancelled = True
        self._changed = True

    def resume(self) -> None:
        """Run again after ``cancel`` (work sent back); slots already sent stay sent."""
        if not self.state.cancelled:
            return
        self.state.cancelled = False
        self._changed = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    @property
    def running(self) -> bool:
        return not self.state.cancelled

    async def stopped(self) -> None:
        if self._task is not None:
            await self._task

    def _key(self, slot: Slot) -> str:
        return slot_key(self.entity_key, self.state.due, slot)

    def next_slot(self) -> Slot | None:
        s = self.state
        armed = s.armed_at or workflow.now()
        pending = [x for x in slots_for(s.due, s.timezone, s.policy) if self._key(x) not in s.fired]
        missed = [x for x in pending if x.at <= armed]
        # Past escalations collapse into the latest one, sent now; past reminders are dropped.
        late = [x for x in missed if x.kind is SlotKind.escalation]
        if late and late[-1].overdue_level > s.overdue_level:
            return late[-1]
        future = [x for x in pending if x.at > armed]
        return future[0] if future else None

    async def _run(self) -> None:
        while not self.state.cancelled:
            self._changed = False
            slot = self.next_slot()
            if slot is None:
                await workflow.wait_condition(lambda: self._changed)
                continue
            delay = slot.at - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self._changed, timeout=delay)
                    continue  # rescheduled or cancelled: work out the next slot again
                except TimeoutError:
                    pass
            if self.state.cancelled:
                break
            key = self._key(slot)
            fire = FireSlotInput(
                target=self.state.target,
                owner_person_id=self.state.owner_person_id,
                due=self.state.due,
                timezone=self.state.timezone,
                slot=slot,
                dedupe_key=key,
                fired_at=workflow.now(),
            )
            if workflow.patched(LOCAL_FIRE_PATCH):
                # In the worker that runs the timer's workflow task, with no activity task
                # through the server: half the round trips when thousands fall due at once.
                await workflow.execute_local_activity(
                    FIRE_SLOT_ACTIVITY, fire, start_to_close_timeout=timedelta(minutes=2)
                )
            else:
                await workflow.execute_activity(
                    FIRE_SLOT_ACTIVITY, fire, start_to_close_timeout=timedelta(minutes=2)
                )
            self.state.fired.append(key)
            if slot.kind is SlotKind.escalation:
                self.state.overdue_level = max(self.state.overdue_level, slot.overdue_level)
                if self.on_escalation is not None:
                    self.on_escalation(self.state.overdue_level)
