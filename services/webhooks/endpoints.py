"""Administering webhook endpoints: an admin subscribes a URL to event types of its subtree,
lists the endpoints and their messages, disables one. Each step is an audit event; the secret
is shown once, at creation, and never written to the chain."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from services.accounts.models import Role
from services.accounts.principal import Principal
from services.audit.chain import AuditChainHead, append_event
from services.core.errors import Conflict, Invalid, NotFound
from services.core.ids import keyed_id
from services.integrity.checkpoints import AuditCheckpoint
from services.org.queries import get_org, under_path
from services.webhooks.models import (
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    MessageOut,
    WebhookEndpoint,
    WebhookMessage,
)


def _out(ep: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(ep.model_dump())


def create_endpoint(
    session: Session,
    principal: Principal,
    body: EndpointIn,
    at: datetime,
    idempotency_key: str | None = None,
) -> EndpointCreated:
    """A new endpoint, receiving what happens from now on (not the past). A retry with the same
    ``Idempotency-Key`` answers the endpoint it created, secret included (its caller's own)."""
    principal.require_role(Role.admin)
    scope_org_id = body.scope_org_id or principal.scope_org_id
    path = "/"
    if scope_org_id is not None:
        org = get_org(session, scope_org_id)
        principal.require_scope(org)
        path = org.path
    if "audit.checkpoint" in body.event_types and path != "/":
        message = "checkpoints speak for the whole chain: only installation-wide endpoints"
        raise Invalid(message, errors=[{"field": "event_types", "message": message}])
    endpoint_id = keyed_id("whep", principal.account_id, idempotency_key)
    existing = session.get(WebhookEndpoint, endpoint_id)
    if existing is None:
        created = _insert(session, principal, body, endpoint_id, scope_org_id, path, at)
        if created is not None:
            return created
        existing = session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
        assert existing is not None  # the same request, sent twice at once, made it first
    if (existing.url, existing.event_types, existing.scope_org_id) != (
        str(body.url),
        body.event_types,
        scope_org_id,
    ):
        message = f"already used for endpoint {endpoint_id} with another URL, events or scope"
        raise Invalid(
            "this Idempotency-Key created a different endpoint; use a new key",
            errors=[{"field": "Idempotency-Key", "message": message}],
        )
    return EndpointCreated(**_out(existing).model_dump(), secret=existing.secret)


def _insert(
    session: Session,
    principal: Principal,
    body: EndpointIn,
    endpoint_id: str,
    scope_org_id: str | None,
    path: str,
    at: datetime,
) -> EndpointCreated | None:
    """The new endpoint, or None when a twin request inserted it first."""
    head = session.get(AuditChainHead, 1)
    last_checkpoint = session.exec(select(func.max(AuditCheckpoint.seq))).one()
    ep = WebhookEndpoint(
        id=endpoint_id,
        url=str(body.url),
        secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        event_types=body.event_types,
        description=body.description,
        scope_org_id=scope_org_id,
        org_path=path,
        created_by=principal.account_id,
        created_at=at,
        audit_cursor=head.seq if head is not None else 0,
        checkpoint_cursor=last_checkpoint or 0,
    )
    try:
        with session.begin_nested():
            session.add(ep)
            session.flush()
    except IntegrityError:
        return None
    _event(session, principal, ep, "webhook_created", at)
    return EndpointCreated(**_out(ep).model_dump(), secret=ep.secret)


def administered(session: Session, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    """An endpoint of this admin's subtree; any other reads as absent."""
    principal.require_role(Role.admin)
    ep = session.get(WebhookEndpoint, endpoint_id)
    if ep is None or not principal.in_scope(ep.org_path):
        raise NotFound(f"no webhook endpoint {endpoint_id!r} in this scope", field="endpoint_id")
    return ep


def list_endpoints(
    session: Session, principal: Principal, offset: int, limit: int
) -> tuple[list[EndpointOut], int]:
    principal.require_role(Role.admin)
    cond = under_path(WebhookEndpoint.org_path, principal.scope_path)
    total = session.exec(select(func.count()).select_from(WebhookEndpoint).where(cond)).one()
    rows = session.exec(
        select(WebhookEndpoint)
        .where(cond)
        .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        .offset(offset)
        .limit(limit)
    )
    return [_out(ep) for ep in rows], int(total)


def disable_endpoint(
    session: Session, principal: Principal, endpoint_id: str, at: datetime
) -> EndpointOut:
    """No more messages; those still pending are given up at once."""
    ep = administered(session, principal, endpoint_id)
    if ep.disabled_at is not None:
        raise Conflict("the endpoint is already disabled", state="disabled")
    ep.disabled_at = at
    session.add(ep)
    session.execute(
        update(WebhookMessage)
        .where(col(WebhookMessage.endpoint_id) == ep.id, col(WebhookMessage.state) == "pending")
        .values(state="gave_up", next_attempt_at=None, last_error="the endpoint was disabled")
    )
    _event(session, principal, ep, "webhook_disabled", at)
    return _out(ep)


def list_messages(
    session: Session,
    principal: Principal,
    endpoint_id: str,
    state: str | None,
    offset: int,
    limit: int,
) -> tuple[list[MessageOut], int]:
    """The endpoint's messages, newest first, with each one's attempts and last outcome."""
    ep = administered(session, principal, endpoint_id)
    cond: list[Any] = [WebhookMessage.endpoint_id == ep.id]
    if state is not None:
        cond.append(WebhookMessage.state == state)
    total = session.exec(select(func.count()).select_from(WebhookMessage).where(*cond)).one()
    rows = session.exec(
        select(WebhookMessage)
        .where(*cond)
        .order_by(col(WebhookMessage.id).desc())
        .offset(offset)
        .limit(limit)
    )
    out = [
        MessageOut(**m.model_dump(exclude={"body", "endpoint_id"}), data=json.loads(m.body)["data"])
        for m in rows
    ]
    return out, int(total)


def _redacted(url: str) -> str:
    """The URL without user-info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc, query="", fragment="").geturl()


def _event(
    session: Session, principal: Principal, ep: WebhookEndpoint, action: str, at: datetime
) -> None:
    append_event(
        session,
        idempotency_key=f"webhook:{ep.id}:{action}",
        actor=principal.account_id,
        action=action,
        entity_type="webhook",
        entity_id=ep.id,
        # Never the query or user-info: a receiver's token often lives there, and the chain is
        # for ever.
        payload={
            "url": _redacted(ep.url),
            "event_types": ep.event_types,
            "scope_org_id": ep.scope_org_id,
        },
        at=at,
        org_path=ep.org_path,
    )
