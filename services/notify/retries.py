"""Deliveries that failed, retried on a bounded schedule apart from whoever sent them.

A failed channel gets a ``notification_failures`` row: ``retrying`` with the time of its next
attempt (1 min, 5 min, 15 min, 1 h, 3 h, 6 h after the failures before it), then ``delivered``,
or ``gave_up`` after the last attempt or at once when the receiver refused the message (a 4xx).
The worker runs ``retry_due`` every little while; several workers may, since each row is claimed
by a conditional UPDATE before it is tried (the claim moves its next attempt a lease ahead, so a
worker that dies mid-attempt leaves it to be tried again after the lease).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import rows_changed
from services.core.logging import get_logger
from services.core.loops import repeat
from services.core.settings import Settings
from services.notify.delivery import deliver
from services.notify.models import DeliveryFailure, Notification
from services.org.queries import under_path

if TYPE_CHECKING:
    from services.notify.channels import DeliveryError

log = get_logger(__name__)

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1  # the first attempt, then one per step of BACKOFF
LEASE = timedelta(minutes=2)  # a claimed attempt's window before another worker may take it


def _next(attempts: int, permanent: bool, now: datetime) -> tuple[str, datetime | None]:
    if permanent or attempts >= MAX_ATTEMPTS:
        return "gave_up", None
    return "retrying", now + BACKOFF[attempts - 1]


def record_failures(
    session: Session, n: Notification, failed: dict[str, DeliveryError], now: datetime
) -> None:
    """A failure row per failed channel (a repeat of the first attempt, after a crash, counts
    once: the row exists and keeps its schedule)."""
    assert n.id is not None
    for channel, exc in failed.items():
        exists = session.exec(
            select(DeliveryFailure).where(
                DeliveryFailure.notification_id == n.id, DeliveryFailure.channel == channel
            )
        ).first()
        if exists is not None:
            continue
        state, at = _next(1, exc.permanent, now)
        session.add(
            DeliveryFailure(
                notification_id=n.id,
                channel=channel,
                org_path=n.org_path,
                state=state,
                permanent=exc.permanent,
                last_error=str(exc)[:2000],
                first_failed_at=now,
                last_attempt_at=now,
                next_attempt_at=at,
            )
        )
        log.warning("delivery_failed", channel=channel, dedupe_key=n.dedupe_key, error=str(exc))


def _claim(session: Session, row_id: int, due_at: datetime, now: datetime) -> bool:
    """Take the row for one attempt (its next attempt moved a lease ahead), unless another
    worker took it since it was read: the UPDATE matches only the time read, and only while
    it is due."""
    result = session.execute(
        update(DeliveryFailure)
        .where(
            col(DeliveryFailure.id) == row_id,
            col(DeliveryFailure.state) == "retrying",
            col(DeliveryFailure.next_attempt_at) == due_at,
            col(DeliveryFailure.next_attempt_at) <= now,
        )
        .values(next_attempt_at=now + LEASE)
    )
    session.commit()
    return rows_changed(result) == 1


def retry_due(
    session: Session,
    settings: Settings,
    now: datetime,
    limit: int = 100,
    clock: Callable[[], datetime] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Try once more every failed delivery whose time has come; returns how many were tried.
    ``clock`` gives each claim its own moment (a batch of slow receivers outlasts one lease);
    ``stop`` ends the batch between rows (shutdown)."""
    due = session.exec(
        select(DeliveryFailure.id, DeliveryFailure.next_attempt_at)
        .where(
            DeliveryFailure.state == "retrying",
            col(DeliveryFailure.next_attempt_at) <= now,
        )
        .order_by(col(DeliveryFailure.next_attempt_at))
        .limit(limit)
    ).all()
    tried = 0
    for row_id, due_at in due:
        if stop():
            break
        at = clock() if clock is not None else now
        if row_id is None or due_at is None or not _claim(session, row_id, due_at, at):
            continue
        tried += 1
        try:
            _attempt(session, settings, row_id, at)
        except Exception as exc:
            session.rollback()
            _record(session, row_id, at, str(exc), permanent=False)
    return tried


def _attempt(session: Session, settings: Settings, row_id: int, at: datetime) -> None:
    row = session.get(DeliveryFailure, row_id)
    assert row is not None
    n = session.get(Notification, row.notification_id)
    assert n is not None
    failed = deliver(session, n, settings, channels=[row.channel])
    exc = failed.get(row.channel)
    if exc is None:
        _record(session, row_id, at, None, permanent=False)
    else:
        _record(session, row_id, at, str(exc), permanent=exc.permanent)


def _record(
    session: Session, row_id: int, at: datetime, error: str | None, permanent: bool
) -> None:
    """The attempt's outcome: delivered, or the next attempt on the schedule (or given up)."""
    row = session.get(DeliveryFailure, row_id)
    assert row is not None
    row.attempts += 1
    row.last_attempt_at = at
    if error is None:
        row.state, row.next_attempt_at = "delivered", None
    else:
        row.permanent = permanent
        row.last_error = error[:2000]
        row.state, row.next_attempt_at = _next(row.attempts, permanent, at)
    session.add(row)
    session.commit()


async def keep_retrying(engine: Engine, settings: Settings, stop: asyncio.Event) -> None:
    """The worker's loop: every ``delivery_retry_seconds``, the deliveries that are due."""
    await repeat(
        lambda: _retry_once(engine, settings, stop),
        settings.delivery_retry_seconds,
        stop,
        "delivery_retries_failed",
    )


def _retry_once(engine: Engine, settings: Settings, stop: asyncio.Event) -> None:
    with Session(engine) as session:
        tried = retry_due(session, settings, utcnow(), clock=utcnow, stop=stop.is_set)
    if tried:
        log.info("deliveries_retried", tried=tried)


class FailureOut(BaseModel):
    id: int
    notification_id: int
    dedupe_key: str
    kind: str
    recipient_person_id: str | None
    channel: str
    state: str
    attempts: int
    permanent: bool
    last_error: str
    first_failed_at: datetime
    last_attempt_at: datetime
    next_attempt_at: datetime | None


def failures_page(
    session: Session, org_path: str, state: str | None, offset: int, limit: int
) -> tuple[list[FailureOut], int]:
    """Failed deliveries in the subtree, newest first (``state``: retrying, delivered or
    gave_up; all when None)."""
    cond: list[Any] = [under_path(DeliveryFailure.org_path, org_path)]
    if state is not None:
        cond.append(DeliveryFailure.state == state)
    total = session.exec(select(func.count()).select_from(DeliveryFailure).where(*cond)).one()
    rows = session.exec(
        select(DeliveryFailure, Notification)
        .join(Notification, col(Notification.id) == col(DeliveryFailure.notification_id))
        .where(*cond)
        .order_by(col(DeliveryFailure.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    out = [
        FailureOut(
            id=f.id or 0,
            notification_id=f.notification_id,
            dedupe_key=n.dedupe_key,
            kind=n.kind,
            recipient_person_id=n.recipient_person_id,
            channel=f.channel,
            state=f.state,
            attempts=f.attempts,
            permanent=f.permanent,
            last_error=f.last_error,
            first_failed_at=f.first_failed_at,
            last_attempt_at=f.last_attempt_at,
            next_attempt_at=f.next_attempt_at,
        )
        for f, n in rows
    ]
    return out, int(total)
