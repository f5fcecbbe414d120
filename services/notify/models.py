"""Notifications' tables (the inbox, deliveries per channel) and their in/out models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.core.clock import utcnow

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
    # The same message in Chinese (empty on rows written before messages carried it).
    subject_zh: str = Field(default="", max_length=300)
    body_zh: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    link: str = Field(default="", max_length=300)  # its console page
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


class DeliveryFailure(SQLModel, table=True):
    """A channel that failed to deliver a notification, and its retries: ``retrying`` until
    ``next_attempt_at``, then ``delivered`` or, after the last attempt or a refusal,
    ``gave_up``. Kept for operators (``GET /api/v1/notifications/failures``)."""

    __tablename__ = "notification_failures"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_failure_channel"),
        Index("ix_notification_failures_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True)
    channel: str = Field(max_length=20)
    org_path: str = Field(default="", max_length=2000, index=True)
    state: str = Field(max_length=20)  # retrying | delivered | gave_up
    attempts: int = 1
    permanent: bool = False
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    first_failed_at: datetime = Field(default_factory=utcnow)
    last_attempt_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime | None = None


class NotificationIn(BaseModel):
    dedupe_key: str
    recipient_person_id: str | None
    kind: str
    subject: str
    body: str
    subject_zh: str = ""
    body_zh: str = ""
    link: str = ""  # empty: derived from the entity (services.notify.links)
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
    subject_zh: str
    body_zh: str
    link: str
    entity_type: str
    entity_id: str
    scheduled_for: datetime | None
    fired_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None
    channels: list[str] = []

    def in_language(self, lang: str) -> tuple[str, str]:
        """Subject and body in ``lang`` (English when no Chinese was written)."""
        if lang == "zh" and self.subject_zh:
            return self.subject_zh, self.body_zh
        return self.subject, self.body
