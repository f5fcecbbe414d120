"""Webhook endpoints (an outside system subscribed to some event types) and the messages sent
to them, per the Standard Webhooks spec (https://www.standardwebhooks.com)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.core.text import Line

# The events an endpoint may subscribe to, with what sends each.
EVENT_TYPES: dict[str, str] = {
    "problem.state_changed": "a rectification moved on (every transition, with its new state)",
    "letter.issued": "a responsibility letter was issued to an org",
    "letter.signed": "an org's head signed its letter",
    "letter.returned": "an org's head returned its letter for revision",
    "evaluation.published": "an evaluation's results were published",
    "audit.checkpoint": "a signed checkpoint of the audit chain (installation-wide endpoints)",
}


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"

    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2000)
    # The signing secret (``whsec_`` + base64), shown to its creator once; it has to be stored
    # as is, since every message is signed with it.
    secret: str = Field(max_length=100)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=300)
    scope_org_id: str | None = Field(default=None, max_length=64)
    org_path: str = Field(default="/", max_length=2000)  # events under this path only
    created_by: str = Field(max_length=64)
    created_at: datetime
    disabled_at: datetime | None = None
    # What has been turned into messages so far: the audit chain's seq and the last checkpoint's.
    audit_cursor: int = 0
    checkpoint_cursor: int = 0


class WebhookMessage(SQLModel, table=True):
    """One event for one endpoint: ``pending`` until delivered (a 2xx), or ``gave_up`` after
    the last attempt or at once when the receiver refused it (a 4xx other than 408/429)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_id", name="uq_webhook_messages_message"),
        Index("ix_webhook_messages_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", max_length=40, index=True)
    # The ``webhook-id`` header: the same on every attempt, so a receiver drops repeats.
    message_id: str = Field(max_length=80)
    event_type: str = Field(max_length=40)
    body: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="pending", max_length=20)  # pending | delivered | gave_up
    attempts: int = 0
    last_status: int | None = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


class EndpointIn(BaseModel):
    url: AnyHttpUrl = PydanticField(max_length=2000)
    event_types: list[str] = PydanticField(min_length=1, max_length=len(EVENT_TYPES))
    description: Line = PydanticField(default="", max_length=300)
    scope_org_id: str | None = PydanticField(
        default=None, description="events of this org's subtree only (default: the caller's scope)"
    )

    @field_validator("event_types")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        return sorted(set(v))


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    scope_org_id: str | None
    created_by: str
    created_at: datetime
    disabled_at: datetime | None


class EndpointCreated(EndpointOut):
    secret: str = PydanticField(description="the signing secret, shown this once")


class MessageOut(BaseModel):
    id: int
    message_id: str
    event_type: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    data: dict[str, Any]
