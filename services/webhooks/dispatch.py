"""The worker's webhook loop: turn what was recorded since each endpoint's cursor into messages,
then send those that are due.

Turning events into messages inserts the rows and moves the cursor in one transaction, and the
cursor only moves from the value read (a conditional UPDATE), so two workers never queue an
event twice; a message's UNIQUE (endpoint, message id) is the last guard.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import rows_changed
from services.core.logging import get_logger
from services.core.loops import repeat
from services.core.settings import Settings
from services.webhooks.events import chain_messages, checkpoint_messages
from services.webhooks.models import WebhookEndpoint, WebhookMessage
from services.webhooks.sending import send_due

log = get_logger(__name__)

BATCH = 500  # events per endpoint per round


def enqueue(session: Session, limit: int = BATCH) -> int:
    """Queue the new events of every active endpoint; returns how many messages."""
    ids = session.exec(
        select(WebhookEndpoint.id).where(col(WebhookEndpoint.disabled_at).is_(None))
    ).all()
    queued = 0
    for endpoint_id in ids:
        try:
            queued += _enqueue_one(session, endpoint_id, limit)
        except IntegrityError:
            session.rollback()  # another worker queued these first
    return queued


def _enqueue_one(session: Session, endpoint_id: str, limit: int) -> int:
    ep = session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
    if ep is None:
        return 0
    chain, audit_cursor = chain_messages(session, ep, limit)
    checkpoints = checkpoint_messages(session, ep, limit)
    checkpoint_cursor = ep.checkpoint_cursor  # the floor set at creation; see checkpoint_messages
    if audit_cursor == ep.audit_cursor and not checkpoints:
        return 0
    moved = session.execute(
        update(WebhookEndpoint)
        .where(
            col(WebhookEndpoint.id) == ep.id,
            col(WebhookEndpoint.audit_cursor) == ep.audit_cursor,
            col(WebhookEndpoint.checkpoint_cursor) == ep.checkpoint_cursor,
            col(WebhookEndpoint.disabled_at).is_(None),  # disabled meanwhile: queue nothing
        )
        .values(audit_cursor=audit_cursor, checkpoint_cursor=checkpoint_cursor)
    )
    if rows_changed(moved) != 1:
        session.rollback()
        return 0
    now = utcnow()
    for message_id, event_type, body in [*chain, *checkpoints]:
        session.add(
            WebhookMessage(
                endpoint_id=ep.id,
                message_id=message_id,
                event_type=event_type,
                body=body,
                created_at=now,
                next_attempt_at=now,
            )
        )
    session.commit()
    return len(chain) + len(checkpoints)


def dispatch_once(engine: Engine, stop: asyncio.Event | None = None) -> tuple[int, int]:
    """One round: queue, then send what is due. Returns (queued, attempted)."""
    with Session(engine) as session:
        queued = enqueue(session)
        sent = send_due(session, utcnow, stop.is_set if stop is not None else lambda: False)
    if queued or sent:
        log.info("webhooks_dispatched", queued=queued, attempted=sent)
    return queued, sent


async def keep_dispatching(engine: Engine, settings: Settings, stop: asyncio.Event) -> None:
    """The worker's loop, every ``webhook_dispatch_seconds``."""
    await repeat(
        lambda: dispatch_once(engine, stop),
        settings.webhook_dispatch_seconds,
        stop,
        "webhook_dispatch_failed",
    )
