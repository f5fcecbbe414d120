"""A change's place in the audit chain: its one event (keyed by the change, so a retried
activity finds it and writes nothing twice), and what that event says was changed."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from services.audit.chain import AuditEvent, append_event
from services.changes.contracts import ChangeInput

Diff = dict[str, list[Any]]  # field -> [before, after]


def recorded_diff(session: Session, inp: ChangeInput) -> Diff | None:
    """What an earlier attempt of this change wrote; None when it wrote nothing yet."""
    done = session.exec(select(AuditEvent).where(AuditEvent.idempotency_key == inp.key)).first()
    if done is None:
        return None
    found: Diff = done.payload.get("changed", {})
    return found


def record_change(session: Session, inp: ChangeInput, diff: Diff, org_path: str) -> None:
    append_event(
        session,
        idempotency_key=inp.key,
        actor=inp.actor,
        action=f"{inp.subject.value}_change",
        entity_type=inp.subject.value,
        entity_id=inp.subject_id,
        payload={"changed": diff},
        at=inp.at,
        org_path=org_path,
    )
    session.flush()
