"""The console's accountability forms, posted from ``/me``: the person concerned appeals a
record once; a committee in scope upholds or overturns a pending appeal. The same services as
``api.routes.accountability``; a refusal is shown on ``/me`` with what was typed kept."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlmodel import Session

from api.console.signin import error_of, kept_input, posting
from api.console.work import me_page
from api.deps import RowId
from services.accountability.records import (
    AppealDecisionIn,
    AppealIn,
    appeal,
    decide_appeal,
)
from services.accounts.principal import Principal
from services.core.clock import utcnow
from services.core.errors import DomainError
from services.core.parsing import parsed
from services.deadlines.accountability import Accountability

router = APIRouter(include_in_schema=False)


async def _step(
    request: Request,
    model: type[BaseModel],
    fields: tuple[str, ...],
    act: Callable[[Session, Principal, BaseModel], Accountability],
) -> Response:
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        body = parsed(model, {f: form.get(f) or "" for f in fields}, "form")
        with Session(who.state.engine) as s:
            act(s, pr, body)
            s.commit()
    except DomainError as exc:
        return me_page(request, who, exc.status, error=error_of(exc), form=kept_input(form))
    return RedirectResponse("/me#accountability", status_code=303)


@router.post("/accountability/{record_id}/appeal", response_model=None)
async def appeal_record(request: Request, record_id: RowId) -> Response:
    return await _step(
        request,
        AppealIn,
        ("reason",),
        lambda s, pr, body: appeal(s, pr, record_id, body, utcnow()),  # type: ignore[arg-type]
    )


@router.post("/accountability/{record_id}/decision", response_model=None)
async def decide(request: Request, record_id: RowId) -> Response:
    return await _step(
        request,
        AppealDecisionIn,
        ("decision", "reason"),
        lambda s, pr, body: decide_appeal(s, pr, record_id, body, utcnow()),  # type: ignore[arg-type]
    )
