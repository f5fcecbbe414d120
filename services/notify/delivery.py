"""Delivering one notification through the configured channels, each at most once: a channel's
delivery is recorded (``notification_deliveries``, UNIQUE per notification and channel) as soon
as it succeeds, so a retry re-sends only what was never delivered."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session as OrmSession
from sqlmodel import select

from services.core.clock import utcnow
from services.core.settings import Settings
from services.notify.channels import SENDERS, DeliveryError
from services.notify.models import Notification, NotificationDelivery
from services.org.models import Person


def deliver(
    session: OrmSession,
    n: Notification,
    settings: Settings,
    channels: Iterable[str] | None = None,
) -> dict[str, DeliveryError]:
    """Send through every configured channel (or those of ``channels``) not yet delivered;
    record each delivery as it succeeds. Returns the channels that failed, with why.

    Commits after each channel so a later failure does not undo a delivery already made.
    """
    assert n.id is not None
    done = set(
        session.execute(
            select(NotificationDelivery.channel).where(NotificationDelivery.notification_id == n.id)
        ).scalars()
    )
    recipient = session.get(Person, n.recipient_person_id) if n.recipient_person_id else None
    failed: dict[str, DeliveryError] = {}
    for channel in channels if channels is not None else settings.notify_channels:
        if channel in done:
            continue
        sender = SENDERS.get(channel)
        if sender is None:
            failed[channel] = DeliveryError(f"unknown channel {channel!r}", permanent=True)
            continue
        try:
            sender(n, recipient, settings)
        except DeliveryError as exc:
            failed[channel] = exc
            continue
        session.add(NotificationDelivery(notification_id=n.id, channel=channel))
        done.add(channel)
        if n.sent_at is None and all(c in done for c in settings.notify_channels):
            n.sent_at = utcnow()  # the last channel: its delivery and this in one commit
            session.add(n)
        session.commit()
    if n.sent_at is None and all(c in done for c in settings.notify_channels):
        n.sent_at = utcnow()  # every channel had been delivered before this call
        session.add(n)
        session.commit()
    return failed
