"""Firing one deadline slot: who hears about it, the accountability it creates, the overdue flag.

Idempotent end to end: the notification and the accountability record are keyed by the slot's
dedupe key, the escalation's audit event by the same key, and the overdue level only ever rises to
the slot's level, so a retried activity or a restarted worker changes nothing the second time."""

from __future__ import annotations

from sqlalchemy import column, table, update
from temporalio import activity

from activities.context import deps
from services.audit.chain import append_event
from services.core.db import session_scope
from services.deadlines.accountability import AccountabilityIn, record_accountability
from services.deadlines.contracts import FIRE_SLOT_ACTIVITY, FireSlotInput, FireSlotResult, SlotKind
from services.deadlines.rules import escalation_chain
from services.notify.models import NotificationIn
from services.notify.store import notify, record_notification
from services.org.queries import chain_of_heads, get_org

# Read-model tables whose rows carry an ``overdue_level`` column, by entity type.
OVERDUE_TABLES = {"problem": "problems", "letter": "letters", "item": "items"}


@activity.defn(name=FIRE_SLOT_ACTIVITY)
def fire_deadline_slot(inp: FireSlotInput) -> FireSlotResult:
    d = deps()
    t, slot = inp.target, inp.slot
    with session_scope(d.engine) as session:
        org = get_org(session, t.org_id)
        chain = escalation_chain(
            inp.owner_person_id, [h for _, h in chain_of_heads(session, t.org_id)]
        )
        recipient = chain[min(slot.chain_level, len(chain) - 1)]
        due = inp.due.isoformat()
        if slot.kind is SlotKind.reminder:
            subject = f"Reminder: {t.what} due {due} ({slot.days} day(s) left) — {t.title}"
            body = f"The {t.what} for “{t.title}” ({t.entity_type} {t.entity_id}) is due {due}."
        else:
            subject = (
                f"Overdue {slot.days} day(s), level {slot.overdue_level}: {t.what} — {t.title}"
            )
            body = (
                f"The {t.what} for “{t.title}” ({t.entity_type} {t.entity_id}, org {org.name}) "
                f"was due {due} and is {slot.days} day(s) overdue. Escalated to level "
                f"{slot.overdue_level}."
            )
        accountability_created = False
        if slot.kind is SlotKind.escalation:
            if slot.accountability is not None:
                _, accountability_created = record_accountability(
                    session,
                    AccountabilityIn(
                        dedupe_key=inp.dedupe_key,
                        kind=slot.accountability.value,
                        org_id=org.id,
                        org_path=org.path,
                        person_id=inp.owner_person_id or org.head_person_id,
                        reason=f"{t.what} for “{t.title}” {slot.days} day(s) overdue (due {due})",
                        entity_type=t.entity_type,
                        entity_id=t.entity_id,
                        overdue_days=slot.days,
                    ),
                )
            name = OVERDUE_TABLES.get(t.entity_type)
            if name is not None:
                tbl = table(name, column("id"), column("overdue_level"))
                session.execute(
                    update(tbl)
                    .where(tbl.c.id == t.entity_id, tbl.c.overdue_level < slot.overdue_level)
                    .values(overdue_level=slot.overdue_level)
                )
            append_event(
                session,
                idempotency_key=inp.dedupe_key,
                actor="system:deadline",
                action="escalate",
                entity_type=t.entity_type,
                entity_id=t.entity_id,
                payload={
                    "due": due,
                    "overdue_days": slot.days,
                    "overdue_level": slot.overdue_level,
                    "notified": recipient,
                    "accountability": slot.accountability.value if slot.accountability else None,
                },
                at=inp.fired_at,
                org_path=org.path,
            )
        spec = NotificationIn(
            dedupe_key=inp.dedupe_key,
            recipient_person_id=recipient,
            kind=slot.kind.value,
            subject=subject,
            body=body,
            entity_type=t.entity_type,
            entity_id=t.entity_id,
            org_path=org.path,
            scheduled_for=slot.at,
            fired_at=inp.fired_at,
        )
        # The inbox row commits with the escalation's effects; delivery follows, once per channel.
        record_notification(session, spec)
    with session_scope(d.engine) as session:
        notify(session, spec, d.settings)
    return FireSlotResult(
        recipient_person_id=recipient, accountability_created=accountability_created
    )
