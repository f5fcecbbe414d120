"""The public pages of the console (no sign-in): the board of approved commitments."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api.console.render import page
from api.deps import app_state
from services.core.errors import DomainError, Invalid
from services.cycle.queries import public_board_page
from services.org.contracts import ID_PATTERN
from services.org.queries import get_org

router = APIRouter(include_in_schema=False)
BOARD_PAGE = 100


@router.get("/public/commitments")
def public_board(request: Request, org: str = "", cycle: str | None = None) -> HTMLResponse:
    """Approved commitments of an org and everything below it: the pledge, who made it (name
    and title), on which items — nothing else about anyone."""
    state = app_state(request)
    try:
        if not re.fullmatch(ID_PATTERN, org):
            raise Invalid("choose an org", errors=[{"field": "org", "message": "an org id"}])
        with Session(state.engine) as s:
            o = get_org(s, org)
            rows, total = public_board_page(s, o, True, cycle or None, 0, BOARD_PAGE)
    except DomainError as exc:
        err = {"detail": exc.detail, "errors": exc.extra.get("errors", [])}
        return page(request, "public_board.html", exc.status, principal=None, error=err, rows=[])
    return page(
        request, "public_board.html", principal=None, org=o, rows=rows, total=total, cycle=cycle
    )
