"""The deadline activity: fire one slot (message, accountability, audit event) and raise the
overdue level of the entity it belongs to, in one transaction with the inbox row; then deliver
the message."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from activities.deps import ActivityDeps, write_activity
from services.core.db import session_scope
from services.cycle.store import raise_item_overdue, raise_letter_overdue
from services.deadlines.contracts import FIRE_SLOT_ACTIVITY, FireSlotInput, FireSlotResult, SlotKind
from services.deadlines.store import fire_slot
from services.notify.store import send_recorded
from services.rectification.store import raise_overdue as raise_problem_overdue

# The entities whose rows carry an overdue level, by ``DeadlineTarget.entity_type``.
RAISE_OVERDUE: dict[str, Callable[[Session, str, int], None]] = {
    "problem": raise_problem_overdue,
    "letter": raise_letter_overdue,
    "item": raise_item_overdue,
}


class DeadlineActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @write_activity(FIRE_SLOT_ACTIVITY)
    def fire_deadline_slot(self, inp: FireSlotInput) -> FireSlotResult:
        d = self.deps
        with session_scope(d.engine) as session:
            result, notification = fire_slot(session, inp)
            raise_level = RAISE_OVERDUE.get(inp.target.entity_type)
            if inp.slot.kind is SlotKind.escalation and raise_level is not None:
                raise_level(session, inp.target.entity_id, inp.slot.overdue_level)
            # The inbox row commits with the slot's effects; delivery follows, once per
            # channel, each committed as it is made.
            send_recorded(session, notification, d.settings)
        return result
