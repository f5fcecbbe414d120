"""Deadlines' contracts and arithmetic: reminder policies, slots, the state a ``DeadlineWatch``
carries, and what firing a slot takes and gives.

Pure and deterministic (no clock, no I/O), so workflows compute their timers with it. A deadline is
the **end of its due day in the cycle's timezone**; a reminder ``d`` days before fires at that
instant minus ``d`` days, an escalation ``d`` days overdue at that instant plus ``d`` days.
Escalation step ``k`` (1-based) raises ``overdue_level`` to ``k`` and goes ``k`` levels up the
chain of heads (owner → org head → parent org head → … → root), clamped at the root.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.core.clock import deadline_instant

FIRE_SLOT_ACTIVITY = "fire_deadline_slot"


class AccountabilityKind(StrEnum):
    reminder_talk = "reminder_talk"
    written_inquiry = "written_inquiry"
    public_criticism = "public_criticism"


class SlotKind(StrEnum):
    reminder = "reminder"
    escalation = "escalation"


class ReminderPolicy(BaseModel):
    """When to remind before a deadline and escalate after it (per cycle, with a system default)."""

    model_config = ConfigDict(extra="forbid")

    before_days: list[int] = Field(default_factory=lambda: [7, 3, 1])
    escalate_after_days: list[int] = Field(default_factory=lambda: [0, 3, 7, 14])
    # Days overdue (as a string key, JSON-friendly) → the accountability record created then.
    accountability_at: dict[str, AccountabilityKind] = Field(
        default_factory=lambda: {
            "7": AccountabilityKind.reminder_talk,
            "14": AccountabilityKind.written_inquiry,
        }
    )

    @field_validator("before_days")
    @classmethod
    def _before_positive(cls, v: list[int]) -> list[int]:
        if any(d <= 0 for d in v):
            raise ValueError("reminder days before the deadline must be positive")
        return sorted(set(v), reverse=True)

    @field_validator("escalate_after_days")
    @classmethod
    def _after_non_negative(cls, v: list[int]) -> list[int]:
        if any(d < 0 for d in v):
            raise ValueError("escalation days after the deadline must be zero or positive")
        return sorted(set(v))

    @model_validator(mode="after")
    def _accountability_on_a_step(self) -> ReminderPolicy:
        steps = {str(d) for d in self.escalate_after_days}
        unknown = sorted(set(self.accountability_at) - steps)
        if unknown:
            raise ValueError(
                f"accountability_at names days {unknown} that are not escalation steps "
                f"{sorted(self.escalate_after_days)}"
            )
        return self


class Slot(BaseModel):
    """One moment a deadline speaks: a reminder before it or an escalation after it."""

    name: str  # stable within one due date: "remind-7d", "escalate-3d"
    kind: SlotKind
    at: datetime  # UTC
    days: int  # before (reminder) or after (escalation) the deadline
    overdue_level: int = 0  # escalations: 1, 2, 3, …
    chain_level: int = 0  # 0 = the owner, 1 = org head, 2 = parent org head, …
    accountability: AccountabilityKind | None = None


def slots_for(due: date, timezone: str, policy: ReminderPolicy) -> list[Slot]:
    """Every slot of one deadline, in time order."""
    end = deadline_instant(due, timezone)
    out = [
        Slot(name=f"remind-{d}d", kind=SlotKind.reminder, at=end - timedelta(days=d), days=d)
        for d in policy.before_days
    ]
    for level, d in enumerate(policy.escalate_after_days, start=1):
        out.append(
            Slot(
                name=f"escalate-{d}d",
                kind=SlotKind.escalation,
                at=end + timedelta(days=d),
                days=d,
                overdue_level=level,
                chain_level=level,
                accountability=policy.accountability_at.get(str(d)),
            )
        )
    return sorted(out, key=lambda s: s.at)


def slot_key(entity_key: str, due: date, slot: Slot) -> str:
    """The dedupe key of one slot: one message per slot, whatever retries happen."""
    return f"{entity_key}:due={due.isoformat()}:{slot.name}"


class DeadlineTarget(BaseModel):
    """What a deadline belongs to: enough to address and describe it, nothing more."""

    entity_type: str  # problem, letter, item, commitment
    entity_id: str
    org_id: str
    title: str
    what: str  # "rectification", "signature", "commitments", "item", "re-check"


class DeadlineState(BaseModel):
    target: DeadlineTarget
    due: date
    timezone: str
    policy: ReminderPolicy = Field(default_factory=ReminderPolicy)
    owner_person_id: str | None = None
    armed_at: datetime | None = None
    fired: list[str] = Field(default_factory=list)
    overdue_level: int = 0
    cancelled: bool = False


class FireSlotInput(BaseModel):
    target: DeadlineTarget
    owner_person_id: str | None
    due: date
    timezone: str
    slot: Slot
    dedupe_key: str
    fired_at: datetime  # workflow time when the timer fired


class FireSlotResult(BaseModel):
    recipient_person_id: str | None
    accountability_created: bool
