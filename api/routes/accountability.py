"""Accountability by hand: a committee records it (kind, reason, outcome, the linked problem or
evaluation), the person concerned appeals once, a committee in scope decides the appeal. The
list is ``GET /api/v1/accountability`` (``api.routes.inbox``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from api.deps import PrincipalDep, RowId, SessionDep
from services.accountability.records import (
    AccountabilityRecordIn,
    AppealDecisionIn,
    AppealIn,
    appeal,
    decide_appeal,
    out,
    record_by_hand,
)
from services.core.clock import utcnow
from services.deadlines.accountability import AccountabilityOut

router = APIRouter(prefix="/api/v1/accountability", tags=["accountability"])


@router.post("", status_code=201)
def record(
    body: AccountabilityRecordIn,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> AccountabilityOut:
    """Record accountability for a person in scope (committee or admin). Send
    ``Idempotency-Key`` to retry safely: a retry answers 200 with the record first written."""
    row, created = record_by_hand(session, principal, body, idempotency_key, utcnow())
    if not created:
        response.status_code = 200
    return out(row)


@router.post("/{record_id}/appeal")
def appeal_record(
    record_id: RowId, body: AppealIn, session: SessionDep, principal: PrincipalDep
) -> AccountabilityOut:
    """The person concerned appeals, once, with a reason."""
    return out(appeal(session, principal, record_id, body, utcnow()))


@router.post("/{record_id}/appeal/decision")
def decide(
    record_id: RowId, body: AppealDecisionIn, session: SessionDep, principal: PrincipalDep
) -> AccountabilityOut:
    """A committee in scope upholds or overturns a pending appeal (never the appellant)."""
    return out(decide_appeal(session, principal, record_id, body, utcnow()))
