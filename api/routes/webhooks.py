"""Webhook endpoints: an admin subscribes an outside system to event types of its subtree;
messages are signed per the Standard Webhooks spec and retried on their own schedule."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, status

from api.deps import PageDep, PrincipalDep, SessionDep
from api.pagination import Page
from services.core.clock import utcnow
from services.webhooks.endpoints import (
    create_endpoint,
    disable_endpoint,
    list_endpoints,
    list_messages,
)
from services.webhooks.models import (
    EVENT_TYPES,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    MessageOut,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


@router.get("/webhooks/event-types")
def event_types() -> dict[str, str]:
    """The event types an endpoint may subscribe to, with what sends each."""
    return EVENT_TYPES


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
def post_endpoint(
    body: EndpointIn,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> EndpointCreated:
    """Subscribe a URL (admin). The signing secret is in this response only; messages carry
    ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (verify them with any
    Standard Webhooks library) and start with what happens after this call."""
    return create_endpoint(session, principal, body, utcnow(), idempotency_key)


@router.get("/webhooks")
def get_endpoints(session: SessionDep, principal: PrincipalDep, page: PageDep) -> Page[EndpointOut]:
    """The endpoints of this admin's subtree (never a secret)."""
    rows, total = list_endpoints(session, principal, page.offset, page.page_size)
    return Page.of(rows, total, page)


@router.post("/webhooks/{endpoint_id}/disable")
def disable(endpoint_id: str, session: SessionDep, principal: PrincipalDep) -> EndpointOut:
    """Stop sending to the endpoint; messages still pending are given up."""
    return disable_endpoint(session, principal, endpoint_id, utcnow())


@router.get("/webhooks/{endpoint_id}/messages")
def get_messages(
    endpoint_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    state: Literal["pending", "delivered", "gave_up"] | None = None,
) -> Page[MessageOut]:
    """What was sent to the endpoint, newest first: attempts, the receiver's last answer, the
    next attempt."""
    rows, total = list_messages(session, principal, endpoint_id, state, page.offset, page.page_size)
    return Page.of(rows, total, page)
