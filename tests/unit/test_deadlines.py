"""Deadline arithmetic: end of day in the timezone, reminders, escalation levels, accountability."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.core.clock import deadline_instant, local_date
from services.deadlines.contracts import ReminderPolicy, SlotKind, slot_key, slots_for


def test_deadline_is_end_of_day_in_the_timezone() -> None:
    assert deadline_instant(date(2027, 5, 31), "Asia/Shanghai") == datetime(
        2027, 5, 31, 15, 59, 59, tzinfo=UTC
    )
    assert deadline_instant(date(2027, 5, 31), "UTC") == datetime(
        2027, 5, 31, 23, 59, 59, tzinfo=UTC
    )
    # Daylight saving: New York is UTC-4 in July and UTC-5 in January.
    assert deadline_instant(date(2027, 7, 1), "America/New_York").hour == 3
    assert deadline_instant(date(2027, 1, 1), "America/New_York").hour == 4


def test_local_date_is_the_calendar_day_in_the_timezone() -> None:
    evening_utc = datetime(2027, 5, 31, 17, 0, tzinfo=UTC)  # already June 1st in Shanghai
    assert local_date(evening_utc, "Asia/Shanghai") == date(2027, 6, 1)
    assert local_date(evening_utc, "UTC") == date(2027, 5, 31)


def test_default_policy_slots() -> None:
    due = date(2027, 3, 1)
    end = deadline_instant(due, "Asia/Shanghai")
    slots = slots_for(due, "Asia/Shanghai", ReminderPolicy())
    assert [(s.kind, s.at - end) for s in slots] == [
        (SlotKind.reminder, -timedelta(days=7)),
        (SlotKind.reminder, -timedelta(days=3)),
        (SlotKind.reminder, -timedelta(days=1)),
        (SlotKind.escalation, timedelta(0)),
        (SlotKind.escalation, timedelta(days=3)),
        (SlotKind.escalation, timedelta(days=7)),
        (SlotKind.escalation, timedelta(days=14)),
    ]
    esc = [s for s in slots if s.kind is SlotKind.escalation]
    assert [s.overdue_level for s in esc] == [1, 2, 3, 4]
    assert [s.chain_level for s in esc] == [1, 2, 3, 4]
    assert [s.accountability for s in esc] == [None, None, "reminder_talk", "written_inquiry"]
    assert len({slot_key("rect:P-1", due, s) for s in slots}) == len(slots)


def test_policy_validation() -> None:
    with pytest.raises(ValidationError, match="positive"):
        ReminderPolicy(before_days=[0])
    with pytest.raises(ValidationError, match="zero or positive"):
        ReminderPolicy(escalate_after_days=[-1])
    with pytest.raises(ValidationError, match="not escalation steps"):
        ReminderPolicy(escalate_after_days=[0, 3], accountability_at={"5": "reminder_talk"})
    with pytest.raises(ValidationError):
        ReminderPolicy(accountability_at={"7": "lunch"})
