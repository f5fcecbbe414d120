"""Sending a message to its endpoint, signed per the Standard Webhooks spec, on the spec's
suggested retry schedule.

Every attempt carries the same ``webhook-id`` (a receiver drops repeats) and a fresh
``webhook-timestamp``, signed along with the id and the body (``webhook-signature``), so a
receiver verifying with the ``standardwebhooks`` library refuses a replayed request once its
timestamp is older than its tolerance (5 minutes). Rows are claimed by a conditional UPDATE
before an attempt, so several workers may send; one that dies mid-attempt leaves the row to be
tried again after the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import update
from sqlmodel import Session, col, select

from services.core.db import rows_changed
from services.core.logging import get_logger
from services.core.signing import standard_headers
from services.webhooks.models import WebhookEndpoint, WebhookMessage

log = get_logger(__name__)

# After the first attempt, as the spec suggests: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
BACKOFF = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# A claimed row's window before another worker may try it: beyond an attempt (TIMEOUT per
# connect, write and read), and short, since a worker killed mid-attempt leaves its rows to wait
# this long. A receiver slower than this may get a message twice, with the same webhook-id
# (delivery is at least once, as the spec has it); only the first outcome is recorded.
LEASE = timedelta(minutes=1)
TIMEOUT = 5.0  # seconds: a slow receiver is retried later, never waited on


class Refused(Exception):
    """The attempt failed; ``permanent`` when the receiver refused the message (a 4xx other
    than 408/429, or the endpoint was disabled)."""

    def __init__(self, message: str, status: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent


def post(ep: WebhookEndpoint, msg: WebhookMessage, at: datetime) -> int:
    """One attempt; the receiver's status when it accepted (2xx), else ``Refused``."""
    if ep.disabled_at is not None:
        raise Refused("the endpoint was disabled", permanent=True)
    headers = {
        "content-type": "application/json",
        **standard_headers(ep.secret, msg.message_id, msg.body, at),
    }
    try:
        r = httpx.post(ep.url, content=msg.body.encode(), headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise Refused(f"{type(exc).__name__}: {exc}") from exc
    if 200 <= r.status_code < 300:
        return r.status_code
    refused = 400 <= r.status_code < 500 and r.status_code not in (408, 429)
    raise Refused(f"HTTP {r.status_code}", status=r.status_code, permanent=refused)


def _claim(session: Session, row_id: int, due_at: datetime, now: datetime) -> bool:
    """Take the row for one attempt unless another worker took it since it was read."""
    result = session.execute(
        update(WebhookMessage)
        .where(
            col(WebhookMessage.id) == row_id,
            col(WebhookMessage.state) == "pending",
            col(WebhookMessage.next_attempt_at) == due_at,
        )
        .values(next_attempt_at=now + LEASE)
    )
    session.commit()
    return rows_changed(result) == 1


def _record(
    session: Session, row_id: int, claimed_until: datetime, at: datetime, outcome: int | Refused
) -> None:
    """The attempt's outcome, unless the claim was lost meanwhile (an attempt that outlived
    its lease, taken over by another worker): then that worker's outcome stands."""
    msg = session.get(WebhookMessage, row_id, populate_existing=True)
    assert msg is not None
    if msg.state != "pending" or msg.next_attempt_at != claimed_until:
        return
    msg.attempts += 1
    if isinstance(outcome, int):
        msg.state, msg.last_status, msg.delivered_at = "delivered", outcome, at
        msg.next_attempt_at, msg.last_error = None, ""
    else:
        msg.last_status, msg.last_error = outcome.status, str(outcome)[:2000]
        if outcome.permanent or msg.attempts >= MAX_ATTEMPTS:
            msg.state, msg.next_attempt_at = "gave_up", None
            log.warning("webhook_gave_up", message_id=msg.message_id, error=str(outcome))
        else:
            msg.next_attempt_at = at + BACKOFF[msg.attempts - 1]
    session.add(msg)
    session.commit()


def send_due(
    session: Session,
    clock: Callable[[], datetime],
    stop: Callable[[], bool] = lambda: False,
    limit: int = 200,
) -> int:
    """Attempt every message whose time has come, oldest first; returns how many."""
    due = session.exec(
        select(WebhookMessage.id, WebhookMessage.next_attempt_at)
        .where(WebhookMessage.state == "pending", col(WebhookMessage.next_attempt_at) <= clock())
        .order_by(col(WebhookMessage.next_attempt_at), col(WebhookMessage.id))
        .limit(limit)
    ).all()
    tried = 0
    for row_id, due_at in due:
        at = clock()
        if stop() or row_id is None or due_at is None:
            break
        if not _claim(session, row_id, due_at, at):
            continue
        msg = session.get(WebhookMessage, row_id, populate_existing=True)
        ep = session.get(WebhookEndpoint, msg.endpoint_id) if msg is not None else None
        assert msg is not None and ep is not None
        outcome: int | Refused
        try:
            outcome = post(ep, msg, at)
        except Refused as exc:
            outcome = exc
        _record(session, row_id, at + LEASE, at, outcome)
        tried += 1
    return tried
