"""An escalation raises the overdue level of the letter it is about, never a signed one's."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.deadlines import DeadlineActivities
from activities.deps import ActivityDeps
from services.core.db import session_scope
from services.core.settings import Settings
from services.cycle.contracts import LetterState
from services.cycle.models import Letter
from services.deadlines.contracts import (
    DeadlineTarget,
    FireSlotInput,
    ReminderPolicy,
    SlotKind,
    slot_key,
    slots_for,
)

DUE = date(2027, 3, 31)


def _letter(engine: Engine, letter_id: str, state: LetterState) -> None:
    with session_scope(engine) as s:
        s.add(
            Letter(
                id=letter_id,
                cycle_id="c-2027",
                org_id="gb-1-b1",
                org_name="Branch 1",
                org_path="/city/gb-1/gb-1-b1/",
                level=2,
                version=1,
                content_hash="0" * 64,
                state=state.value,
                issued_at=datetime(2027, 3, 1, tzinfo=UTC),
            )
        )


def _first_escalation(letter_id: str) -> FireSlotInput:
    slot = next(
        s
        for s in slots_for(DUE, "Asia/Shanghai", ReminderPolicy())
        if s.kind is SlotKind.escalation
    )
    return FireSlotInput(
        target=DeadlineTarget(
            entity_type="letter",
            entity_id=letter_id,
            org_id="gb-1-b1",
            title="responsibility letter v1 of Branch 1",
            what="signature",
        ),
        owner_person_id="p-008",
        due=DUE,
        timezone="Asia/Shanghai",
        slot=slot,
        dedupe_key=slot_key(f"letter:{letter_id}", DUE, slot),
        fired_at=slot.at,
    )


@pytest.mark.parametrize(("state", "level"), [(LetterState.issued, 1), (LetterState.signed, 0)])
async def test_an_escalation_raises_an_unsigned_letters_level_only(
    tree_engine: Engine, settings: Settings, state: LetterState, level: int
) -> None:
    # A signed letter: the slot fired before the signature and its write (retried) landed after
    # it. The signature reset the level; the signature it escalates is no longer pending.
    _letter(tree_engine, "L-1", state)
    deadlines = DeadlineActivities(ActivityDeps(engine=tree_engine, settings=settings))
    result = await ActivityEnvironment().run(deadlines.fire_deadline_slot, _first_escalation("L-1"))
    assert result.recipient_person_id  # the message and its record are written either way
    with Session(tree_engine) as s:
        letter = s.get(Letter, "L-1")
        assert letter is not None and letter.overdue_level == level
