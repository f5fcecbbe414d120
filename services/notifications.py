"""Notifications: an in-app inbox row per message, delivered through the configured channels.

Exactly-once per slot: a notification's ``dedupe_key`` is UNIQUE, and every channel's delivery is
recorded in ``notification_deliveries`` (UNIQUE per notification and channel), so a retried
activity or a restarted worker re-sends only what was never delivered. The one window no database
can close — a crash after the peer accepted a message but before the delivery row committed — is
covered on the wire: SMTP messages carry a Message-ID and webhooks an ``X-Dutyledger-Delivery``
header both derived from the dedupe key, so receivers can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, col, select

from services.logging import get_logger
from services.orgs import Person, utcnow
from services.settings import Settings

log = get_logger(__name__)

CHANNELS = ("log", "smtp", "webhook")
SIGNATURE_HEADER = "X-Dutyledger-Signature"
DELIVERY_HEADER = "X-Dutyledger-Delivery"


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300)
    recipient_person_id: str | None = Field(default=None, max_length=64, index=True)
    kind: str = Field(max_length=40)
    subject: str = Field(max_length=300)
    body: str
    entity_type: str = Field(default="", max_length=40)
    entity_id: str = Field(default="", max_length=200, index=True)
    org_path: str = Field(default="", max_length=2000, index=True)
    scheduled_for: datetime | None = None  # when the slot was due (workflow time)
    fired_at: datetime | None = None  # when the workflow's timer fired (workflow time)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    read_at: datetime | None = None


class NotificationDelivery(SQLModel, table=True):
    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "channel", name="uq_delivery_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True)
    channel: str = Field(max_length=20)
    delivered_at: datetime = Field(default_factory=utcnow)


class NotificationIn(BaseModel):
    dedupe_key: str
    recipient_person_id: str | None
    kind: str
    subject: str
    body: str
    entity_type: str = ""
    entity_id: str = ""
    org_path: str = ""
    scheduled_for: datetime | None = None
    fired_at: datetime | None = None


class NotificationOut(BaseModel):
    id: int
    recipient_person_id: str | None
    kind: str
    subject: str
    body: str
    entity_type: str
    entity_id: str
    scheduled_for: datetime | None
    fired_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    channels: list[str] = []


class DeliveryError(Exception):
    """A channel failed; the activity is retried and re-sends only undelivered channels."""


# --- channels -------------------------------------------------------------------------------


def _message_id(dedupe_key: str) -> str:
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]}@dutyledger>"


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _send_log(n: Notification, recipient: Person | None, settings: Settings) -> None:
    log.info(
        "notification",
        kind=n.kind,
        to=n.recipient_person_id,
        email=recipient.email if recipient else None,
        subject=n.subject,
        dedupe_key=n.dedupe_key,
    )


def _send_smtp(n: Notification, recipient: Person | None, settings: Settings) -> None:
    if recipient is None or not recipient.email:
        log.info("notification_no_email", to=n.recipient_person_id, dedupe_key=n.dedupe_key)
        return
    msg = EmailMessage()
    msg["From"] = settings.smtp_sender
    msg["To"] = recipient.email
    msg["Subject"] = n.subject
    msg["Message-ID"] = _message_id(n.dedupe_key) if n.dedupe_key else make_msgid()
    msg.set_content(n.body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"smtp: {exc}") from exc


def _send_webhook(n: Notification, recipient: Person | None, settings: Settings) -> None:
    if not settings.webhook_url:
        raise DeliveryError("webhook channel is enabled but DUTYLEDGER_WEBHOOK_URL is not set")
    body = json.dumps(
        {
            "dedupe_key": n.dedupe_key,
            "kind": n.kind,
            "recipient_person_id": n.recipient_person_id,
            "recipient_email": recipient.email if recipient else None,
            "subject": n.subject,
            "body": n.body,
            "entity_type": n.entity_type,
            "entity_id": n.entity_id,
            "scheduled_for": n.scheduled_for.isoformat() if n.scheduled_for else None,
        },
        sort_keys=True,
    ).encode()
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: n.dedupe_key}
    if settings.webhook_secret is not None:
        headers[SIGNATURE_HEADER] = webhook_signature(
            settings.webhook_secret.get_secret_value(), body
        )
    # A few quick retries with backoff here; beyond that the activity's own retry policy takes over.
    last: str = ""
    for attempt in range(3):
        try:
            r = httpx.post(settings.webhook_url, content=body, headers=headers, timeout=10)
            if r.status_code < 300:
                return
            last = f"HTTP {r.status_code}"
            if 400 <= r.status_code < 500 and r.status_code not in (408, 429):
                break  # the receiver refuses this message; retrying will not change that
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.2 * 2**attempt)
    raise DeliveryError(f"webhook: {last}")


SENDERS = {"log": _send_log, "smtp": _send_smtp, "webhook": _send_webhook}


# --- the inbox and delivery -----------------------------------------------------------------


def record_notification(session: Session, spec: NotificationIn) -> Notification:
    """Insert the inbox row unless its dedupe key exists; return the stored row either way."""
    existing = session.exec(
        select(Notification).where(Notification.dedupe_key == spec.dedupe_key)
    ).first()
    if existing is not None:
        return existing
    row = Notification(**spec.model_dump())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent retry won the race
        return session.exec(
            select(Notification).where(Notification.dedupe_key == spec.dedupe_key)
        ).one()
    session.flush()
    return row


def deliver(session: OrmSession, n: Notification, settings: Settings) -> list[str]:
    """Send through every configured channel not yet delivered; record each delivery as it succeeds.

    Commits after each channel so a later failure does not undo a delivery already made.
    Raises DeliveryError if any channel failed (the caller's retry re-sends only those).
    """
    assert n.id is not None
    done = set(
        session.execute(
            select(NotificationDelivery.channel).where(NotificationDelivery.notification_id == n.id)
        ).scalars()
    )
    recipient = session.get(Person, n.recipient_person_id) if n.recipient_person_id else None
    failures: list[str] = []
    sent: list[str] = []
    for channel in settings.notify_channels:
        if channel in done:
            continue
        sender = SENDERS.get(channel)
        if sender is None:
            failures.append(f"unknown channel {channel!r}")
            continue
        try:
            sender(n, recipient, settings)
        except DeliveryError as exc:
            failures.append(str(exc))
            continue
        session.add(NotificationDelivery(notification_id=n.id, channel=channel))
        session.commit()
        sent.append(channel)
    if not failures and n.sent_at is None:
        n.sent_at = utcnow()
        session.add(n)
        session.commit()
    if failures:
        raise DeliveryError("; ".join(failures))
    return sent


def notify(session: Session, spec: NotificationIn, settings: Settings) -> Notification:
    """Record (once) and deliver (each channel once) one notification."""
    n = record_notification(session, spec)
    session.commit()
    if n.sent_at is None:
        deliver(session, n, settings)
    return n


def inbox(
    session: Session, person_id: str | None, org_path: str, offset: int, limit: int
) -> tuple[list[NotificationOut], int]:
    from sqlalchemy import func

    from services.orgs import under_path

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
