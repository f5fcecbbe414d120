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

# Channels that reach no peer (a line in the process's own log): sending cannot fail, so their
# delivery rows go into the transaction that writes the inbox row. A rolled-back transaction
# then repeats the line on its retry, as a crash between sending and committing always could.
LOCAL_CHANNELS = frozenset({"log"})


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
    return _deliver(session, n, settings, channels, commit=True)


def deliver_local(session: OrmSession, n: Notification, settings: Settings) -> None:
    """Send through the configured local channels not yet delivered, recording the deliveries
    in the caller's transaction (no commit): they commit with the inbox row."""
    local = [c for c in settings.notify_channels if c in LOCAL_CHANNELS]
    if local and n.sent_at is None:
        _deliver(session, n, settings, local, commit=False)


def needs_sending(n: Notification) -> bool:
    """Whether a configured channel is still to be delivered (after ``deliver_local``: a
    remote one)."""
    return n.sent_at is None


def _deliver(
    session: OrmSession,
    n: Notification,
    settings: Settings,
    channels: Iterable[str] | None,
    *,
    commit: bool,
) -> dict[str, DeliveryError]:
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
        _mark_sent(session, n, done, settings)  # the last channel: both in one commit
        if commit:
            session.commit()
    if _mark_sent(session, n, done, settings) and commit:  # all delivered before this call
        session.commit()
    return failed


def _mark_sent(session: OrmSession, n: Notification, done: set[str], settings: Settings) -> bool:
    """Set ``sent_at`` once every configured channel is in ``done``; True if it was set now."""
    if n.sent_at is not None or not all(c in done for c in settings.notify_channels):
        return False
    n.sent_at = utcnow()
    session.add(n)
    return True
