"""Which recorded events an endpoint receives, and the message each becomes.

The audit chain is the outbox: every change is written with its audit event in one transaction,
so reading the chain after an endpoint's cursor misses nothing and invents nothing. Checkpoints
come from their own table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from services.audit.chain import AuditChainHead, AuditEvent
from services.integrity.checkpoints import AuditCheckpoint, CheckpointOut
from services.org.queries import under_path
from services.webhooks.models import WebhookEndpoint, WebhookMessage

# event type → (entity_type, action or None for every action) in the audit chain
_FROM_CHAIN: dict[str, tuple[str, str | None]] = {
    "problem.state_changed": ("problem", None),
    "letter.issued": ("letter", "issue"),
    "letter.signed": ("letter", "sign"),
    "letter.returned": ("letter", "return"),
    "evaluation.published": ("evaluation", "evaluation_published"),
}
CHECKPOINT = "audit.checkpoint"


def event_type_of(entity_type: str, action: str) -> str | None:
    for name, (entity, act) in _FROM_CHAIN.items():
        if entity == entity_type and act in (None, action):
            return name
    return None


def _matches(types: list[str]) -> ColumnElement[bool] | None:
    conds: list[ColumnElement[bool]] = []
    for name in types:
        if name not in _FROM_CHAIN:
            continue
        entity, act = _FROM_CHAIN[name]
        cond = col(AuditEvent.entity_type) == entity
        conds.append(cond if act is None else and_(cond, col(AuditEvent.action) == act))
    return or_(*conds) if conds else None


def body_of(event_type: str, at: datetime | str, data: dict[str, Any]) -> str:
    """The payload the spec recommends: ``{type, timestamp, data}``."""
    stamp = at if isinstance(at, str) else at.isoformat()
    return json.dumps(
        {"type": event_type, "timestamp": stamp, "data": data}, sort_keys=True, default=str
    )


def chain_messages(
    session: Session, ep: WebhookEndpoint, limit: int
) -> tuple[list[tuple[str, str, str]], int]:
    """The endpoint's next messages from the chain, as (message id, event type, body), and the
    cursor to keep: the last event read, or the chain's head when fewer than ``limit`` matched
    (nothing between is for this endpoint)."""
    head = session.get(AuditChainHead, 1)
    top = head.seq if head is not None else 0
    match = _matches(ep.event_types)
    if match is None or top <= ep.audit_cursor:
        return [], max(ep.audit_cursor, top)
    rows = session.exec(
        select(AuditEvent)
        .where(
            col(AuditEvent.seq) > ep.audit_cursor,
            col(AuditEvent.seq) <= top,
            match,
            under_path(AuditEvent.org_path, ep.org_path),
        )
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    ).all()
    out = []
    for e in rows:
        kind = event_type_of(e.entity_type, e.action)
        assert kind is not None
        data = {
            "seq": e.seq,
            "entity_type": e.entity_type,
            "entity_id": e.entity_id,
            "action": e.action,
            "actor": e.actor,
            "at": e.at.isoformat(),
            "payload": e.payload,
        }
        out.append((f"msg_audit_{e.seq}", kind, body_of(kind, e.at, data)))
    cursor = rows[-1].seq if len(rows) == limit else top
    return out, cursor


def checkpoint_messages(
    session: Session, ep: WebhookEndpoint, limit: int
) -> list[tuple[str, str, str]]:
    """Checkpoints made since the endpoint was created that it has no message for yet
    (installation-wide endpoints only: a checkpoint speaks for the whole chain). Not a moving
    cursor: the API and the workers sign checkpoints, and their commits need not come in the
    order of their seq; there are few (one per thousand events or hour)."""
    if CHECKPOINT not in ep.event_types or ep.org_path != "/":
        return []
    sent = select(WebhookMessage.message_id).where(WebhookMessage.endpoint_id == ep.id)
    rows = session.exec(
        select(AuditCheckpoint)
        .where(
            col(AuditCheckpoint.seq) > ep.checkpoint_cursor,
            ("msg_checkpoint_" + cast(col(AuditCheckpoint.seq), String)).not_in(sent),
        )
        .order_by(col(AuditCheckpoint.seq))
        .limit(limit)
    ).all()
    out = [
        (
            f"msg_checkpoint_{cp.seq}",
            CHECKPOINT,
            body_of(CHECKPOINT, cp.at, CheckpointOut.model_validate(cp.model_dump()).model_dump()),
        )
        for cp in rows
    ]
    return out
