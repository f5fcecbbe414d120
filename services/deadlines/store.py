"""Firing one deadline slot in the read model: the message, the accountability record, the
escalation's audit event.

Idempotent end to end: the notification and the accountability record are keyed by the slot's
dedupe key, the escalation's audit event by the same key, so a retried activity or a restarted
worker changes nothing the second time. Raising the entity's overdue level belongs to the
entity's own domain; the activity does that in the same transaction.
"""

from __future__ import annotations

from sqlmodel import Session

from services.audit.chain import append_event, lock_chain
from services.deadlines.accountability import AccountabilityIn, record_accountability
from services.deadlines.contracts import FireSlotInput, FireSlotResult, SlotKind
from services.deadlines.rules import escalation_chain
from services.notify import texts
from services.notify.models import Notification, NotificationIn
from services.notify.store import record_notification
from services.org.models import Org
from services.org.queries import chain_of_heads, get_org


def fire_slot(session: Session, inp: FireSlotInput) -> tuple[FireSlotResult, Notification]:
    """Record the slot's inbox row (and, for an escalation, its accountability record and audit
    event) in the caller's transaction; the caller commits it and delivers the inbox row
    (``activities.deadlines``)."""
    t, slot = inp.target, inp.slot
    org, heads = _org_and_heads(session, t.org_id)
    chain = escalation_chain(inp.owner_person_id, heads)
    recipient = chain[min(slot.chain_level, len(chain) - 1)]
    ref = f"{t.entity_type} {t.entity_id}"
    if slot.kind is SlotKind.reminder:
        message = texts.deadline_reminder(t.what, t.title, ref, inp.due, slot.days)
    else:
        message = texts.deadline_escalation(
            t.what, t.title, ref, org.name, inp.due, slot.days, slot.overdue_level
        )
    accountability_created = False
    if slot.kind is SlotKind.escalation:
        accountability_created = _record_escalation(session, inp, org, recipient)
    spec = NotificationIn(
        dedupe_key=inp.dedupe_key,
        recipient_person_id=recipient,
        kind=slot.kind.value,
        **message.fields(),
        entity_type=t.entity_type,
        entity_id=t.entity_id,
        org_path=org.path,
        scheduled_for=slot.at,
        fired_at=inp.fired_at,
    )
    result = FireSlotResult(
        recipient_person_id=recipient, accountability_created=accountability_created
    )
    return result, record_notification(session, spec)


def _org_and_heads(session: Session, org_id: str) -> tuple[Org, list[str | None]]:
    """The org and its chain of heads, read once per session: a batch of slots shares one
    session and one transaction (``activities.deadlines``), and a burst's slots few orgs. Read
    under the chain's lock (``audit.chain.lock_chain``): the path written on the inbox row, the
    accountability record and the event is the org's path when the batch commits."""
    # Every slot: cheap once held, and a savepoint rolled back (a batch written again slot by
    # slot, ``group_commit``) releases what it took. There the orgs are read again each time.
    lock_chain(session)
    read: dict[str, tuple[Org, list[str | None]]] = session.info.setdefault("slot_orgs", {})
    if session.in_nested_transaction():
        read.clear()
    if org_id not in read:
        heads = [h for _, h in chain_of_heads(session, org_id)]
        read[org_id] = (get_org(session, org_id), heads)
    return read[org_id]


def _record_escalation(
    session: Session, inp: FireSlotInput, org: Org, recipient: str | None
) -> bool:
    """The accountability record at the policy's steps, and the escalation's audit event."""
    t, slot = inp.target, inp.slot
    created = False
    if slot.accountability is not None:
        _, created = record_accountability(
            session,
            AccountabilityIn(
                dedupe_key=inp.dedupe_key,
                kind=slot.accountability.value,
                org_id=org.id,
                org_path=org.path,
                person_id=inp.owner_person_id or org.head_person_id,
                reason=texts.accountability_reason(t.what, t.title, inp.due, slot.days),
                entity_type=t.entity_type,
                entity_id=t.entity_id,
                overdue_days=slot.days,
            ),
        )
    append_event(
        session,
        idempotency_key=inp.dedupe_key,
        actor="system:deadline",
        action="escalate",
        entity_type=t.entity_type,
        entity_id=t.entity_id,
        payload={
            "due": inp.due.isoformat(),
            "overdue_days": slot.days,
            "overdue_level": slot.overdue_level,
            "notified": recipient,
            "accountability": slot.accountability.value if slot.accountability else None,
        },
        at=inp.fired_at,
        org_path=org.path,
    )
    return created
