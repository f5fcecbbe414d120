"""The in-app inbox and accountability records, scoped to the caller's subtree."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import MAX_ROW_ID, PageDep, PrincipalDep, SessionDep, subtree_path
from api.pagination import Page
from services.accounts.models import Role
from services.core.errors import Forbidden
from services.deadlines.accountability import AccountabilityOut, list_accountability
from services.notify.models import NotificationOut
from services.notify.retries import FailureOut, failures_page
from services.notify.store import inbox, mark_read, unread_count

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.get("/notifications")
def get_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    person: Annotated[
        str | None, Query(description="recipient person id; default: yourself")
    ] = None,
) -> Page[NotificationOut]:
    """A member sees their own inbox; committee, admin and auditors may read anyone's in scope."""
    if person is None:
        person = principal.person_id
    if person != principal.person_id and principal.role is Role.member:
        raise Forbidden("members may read only their own notifications")
    rows, total = inbox(session, person, principal.scope_path, page.offset, page.page_size)
    return Page.of(rows, total, page)


@router.get("/notifications/failures")
def get_delivery_failures(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    state: Literal["retrying", "delivered", "gave_up"] | None = None,
    org: Annotated[str | None, Query(description="org whose subtree to list")] = None,
) -> Page[FailureOut]:
    """Deliveries that failed in scope (committee, admin, auditor): the channel, the error, the
    attempts so far and the next one; ``gave_up`` once retries ran out or the receiver refused."""
    principal.require_role(Role.admin, Role.committee, Role.auditor)
    path = subtree_path(session, principal, org)
    rows, total = failures_page(session, path, state, page.offset, page.page_size)
    return Page.of(rows, total, page)


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] | None = Field(
        default=None, max_length=1000, description="the notifications to mark; omitted: all"
    )


class ReadOut(BaseModel):
    marked: int
    unread: int


@router.post("/notifications/read")
def mark_notifications_read(body: ReadIn, session: SessionDep, principal: PrincipalDep) -> ReadOut:
    """Mark your own notifications read (the ids given, or all); others' are never touched."""
    if principal.person_id is None:
        raise Forbidden("this account is bound to no person, so it has no inbox")
    marked = mark_read(session, principal.person_id, body.ids)
    session.commit()
    return ReadOut(marked=marked, unread=unread_count(session, principal.person_id))


@router.get("/accountability")
def get_accountability(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    org: Annotated[str | None, Query(description="org whose subtree to list")] = None,
) -> Page[AccountabilityOut]:
    path = subtree_path(session, principal, org)
    rows, total = list_accountability(session, path, page.offset, page.page_size)
    return Page.of(rows, total, page)
