"""Notifications: an in-app inbox row per message, delivered through the configured channels.

Exactly-once per slot: a notification's ``dedupe_key`` is UNIQUE, and every channel's delivery is
recorded in ``notification_deliveries`` (UNIQUE per notification and channel), so a retried
activity or a restarted worker re-sends only what was never delivered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import insert_once, rows_changed
from services.core.logging import get_logger
from services.core.settings import Settings
from services.notify.delivery import deliver, deliver_local, needs_sending
from services.notify.links import console_link
from services.notify.models import (
    Notification,
    NotificationDelivery,
    NotificationIn,
    NotificationOut,
)
from services.notify.retries import record_failures
from services.org.queries import under_path

log = get_logger(__name__)


def record_notification(session: Session, spec: NotificationIn) -> Notification:
    """Insert the inbox row unless its dedupe key exists (an earlier or a concurrent attempt
    wrote it); return the stored row either way."""
    row = Notification(**spec.model_dump())
    row.link = spec.link or console_link(spec.entity_type, spec.entity_id)
    return insert_once(session, row, "dedupe_key")[0]


def notify(session: Session, spec: NotificationIn, settings: Settings) -> Notification:
    """Record (once) and deliver (each channel once) one notification. A channel that fails is
    recorded and retried later on its own schedule (``services.notify.retries``): whoever
    notifies — a deadline above all — never waits on a receiver, nor fails because of one."""
    n = record_notification(session, spec)
    deliver_local(session, n, settings)  # committed with the inbox row
    session.commit()
    send_rest(session, n, settings)
    return n


def send_rest(session: Session, n: Notification, settings: Settings) -> None:
    """Deliver a committed inbox row through every channel not yet delivered; a failure is
    recorded for the retries."""
    if needs_sending(n):
        failed = deliver(session, n, settings)
        if failed:
            record_failures(session, n, failed, utcnow())
            session.commit()


def inbox(
    session: Session, person_id: str | None, org_path: str, offset: int, limit: int
) -> tuple[list[NotificationOut], int]:
    cond: list[Any] = [under_path(Notification.org_path, org_path)]
    if person_id is not None:
        cond.append(Notification.recipient_person_id == person_id)
    total = session.exec(select(func.count()).select_from(Notification).where(*cond)).one()
    rows = session.exec(
        select(Notification)
        .where(*cond)
        .order_by(col(Notification.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    ids = [r.id for r in rows]
    channels: dict[int, list[str]] = {}
    if ids:
        for d in session.exec(
            select(NotificationDelivery).where(col(NotificationDelivery.notification_id).in_(ids))
        ).all():
            channels.setdefault(d.notification_id, []).append(d.channel)
    out = [
        NotificationOut.model_validate(r, from_attributes=True).model_copy(
            update={"channels": sorted(channels.get(r.id or 0, []))}
        )
        for r in rows
    ]
    return out, int(total)


def unread_count(session: Session, person_id: str | None) -> int:
    if person_id is None:
        return 0
    q = select(func.count()).select_from(Notification)
    cond = (Notification.recipient_person_id == person_id, col(Notification.read_at).is_(None))
    return int(session.exec(q.where(*cond)).one())


def mark_read(session: Session, person_id: str, ids: list[int] | None) -> int:
    """Mark the person's own notifications read (``ids``, or all of them when None); returns
    how many changed. Someone else's notification is left alone, whatever its id."""
    cond: list[Any] = [
        Notification.recipient_person_id == person_id,
        col(Notification.read_at).is_(None),
    ]
    if ids is not None:
        cond.append(col(Notification.id).in_(ids))
    result = session.execute(update(Notification).where(*cond).values(read_at=utcnow()))
    return rows_changed(result)
