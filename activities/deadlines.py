"""The deadline activity: fire one slot (message, accountability, audit event) and raise the
overdue level of the entity it belongs to, in one transaction with the inbox row and its
delivery through the local channels; then deliver through the others.

Slots fire in bursts (thousands of deadlines end at the same midnight), so their writes are
group-committed: every slot waiting when the writer comes round shares one transaction
(``services.core.group_commit``). The activity is a coroutine that waits for its batch, holding
no thread, so many slots can wait together; the remote channels are sent after the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session

from activities.deps import ActivityDeps, write_activity
from services.core.db import session_scope
from services.core.group_commit import GroupCommit
from services.cycle.overdue import raise_item_overdue, raise_letter_overdue
from services.deadlines.contracts import FIRE_SLOT_ACTIVITY, FireSlotInput, FireSlotResult, SlotKind
from services.deadlines.store import fire_slot
from services.notify.delivery import deliver_local, needs_sending
from services.notify.models import Notification
from services.notify.store import send_rest
from services.rectification.store import raise_overdue as raise_problem_overdue

# The entities whose rows carry an overdue level, by ``DeadlineTarget.entity_type``, besides
# problems (``raise_problem_overdue`` also records when).
RAISE_OVERDUE: dict[str, Callable[[Session, str, int], None]] = {
    "letter": raise_letter_overdue,
    "item": raise_item_overdue,
}

# Slots in one transaction at most: the batch holds the database's write lock (SQLite's only
# writer, the audit chain's head on PostgreSQL) while it runs, and people's steps wait for it.
SLOT_BATCH = 64


def _raise_overdue(session: Session, inp: FireSlotInput) -> None:
    t, level = inp.target, inp.slot.overdue_level
    if t.entity_type == "problem":  # its level has a history (when it rose), the others' do not
        raise_problem_overdue(session, t.entity_id, level, inp.fired_at, inp.due)
    elif (raise_level := RAISE_OVERDUE.get(t.entity_type)) is not None:
        raise_level(session, t.entity_id, level)


class DeadlineActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps
        self.writer: GroupCommit[FireSlotInput, tuple[FireSlotResult, Notification]] = GroupCommit(
            deps.engine, self._write_slot, name="deadline-slots", max_batch=SLOT_BATCH
        )
        # A thread for each slot the worker runs at once (made only when needed): a send never
        # waits for a thread inside its slot's timeout, nor takes one from anyone else.
        self._senders = ThreadPoolExecutor(SLOT_BATCH, thread_name_prefix="slot-send")

    @write_activity(FIRE_SLOT_ACTIVITY)
    async def fire_deadline_slot(self, inp: FireSlotInput) -> FireSlotResult:
        result, notification = await self.writer.submit(inp)
        if needs_sending(notification):  # a remote channel (SMTP, webhook)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._senders, self._send_rest, notification.id)
        return result

    def _write_slot(
        self, session: Session, inp: FireSlotInput
    ) -> tuple[FireSlotResult, Notification]:
        result, notification = fire_slot(session, inp)
        if inp.slot.kind is SlotKind.escalation:
            _raise_overdue(session, inp)
        deliver_local(session, notification, self.deps.settings)
        return result, notification

    def _send_rest(self, notification_id: int | None) -> None:
        with session_scope(self.deps.engine) as session:
            notification = session.get(Notification, notification_id)
            if notification is not None:
                send_rest(session, notification, self.deps.settings)
