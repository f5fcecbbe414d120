"""The public pages of the console (no sign-in): the board of approved commitments, the public
supervision form (rate-limited with the API's reports, one bucket per address) and a report's
status by its receipt — nothing else about anyone."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api.console.render import page
from api.console.signin import anonymous_form_ok, anonymous_page, error_of, refuse_post
from api.deps import app_state
from api.limits import throttle_public_reports
from services.core.errors import DomainError, Invalid
from services.core.parsing import parsed
from services.cycle.queries import public_board_page
from services.org.contracts import ID_PATTERN
from services.org.models import Org
from services.org.queries import get_org
from services.reports.contracts import PublicReportIn
from services.reports.store import RECEIPT_PATTERN, file_report, receipt_status

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
        err = error_of(exc)
        return page(request, "public_board.html", exc.status, principal=None, error=err, rows=[])
    return page(
        request, "public_board.html", principal=None, org=o, rows=rows, total=total, cycle=cycle
    )


ORG_CHOICES = 500  # orgs offered by name on the form, top levels first


def _report_form(request: Request, status_code: int = 200, **extra: object) -> HTMLResponse:
    state = app_state(request)
    with Session(state.engine) as s:
        orgs = s.exec(select(Org).order_by(col(Org.depth), col(Org.path)).limit(ORG_CHOICES)).all()
    chosen = request.query_params.get("org", "")
    if chosen and all(o.id != chosen for o in orgs):  # a deep org, linked from its board
        with Session(state.engine) as s:
            deep = s.get(Org, chosen)
        orgs = [*orgs, deep] if deep is not None else orgs
    return anonymous_page(
        request, "public_report.html", status_code, orgs=orgs, chosen=chosen, **extra
    )


@router.get("/public/report")
def report_form(request: Request) -> HTMLResponse:
    """Anyone may tell the committee about a problem in an org, without signing in."""
    return _report_form(request)


@router.post("/public/report", response_model=None)
async def file_public_report(request: Request) -> Response:
    form = await request.form()
    if not anonymous_form_ok(request, form):
        return refuse_post(request)
    state = app_state(request)
    try:
        client = throttle_public_reports(request, state.settings.public_report_rate_per_minute)
        body = parsed(
            PublicReportIn, {"org_id": form.get("org_id"), "text": form.get("text")}, "report"
        )
        with Session(state.engine) as s:
            report = file_report(s, state.settings, body, client)
            s.commit()
            receipt = report.id
    except DomainError as exc:
        kept = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        return _report_form(request, exc.status, error=error_of(exc), form=kept)
    return RedirectResponse(f"/public/report/{receipt}?new=1", status_code=303)


@router.get("/public/report/lookup", response_model=None)
def lookup(request: Request, receipt: str = "") -> Response:
    """The receipt typed into the form: its status page."""
    receipt = receipt.strip().upper()
    if not re.fullmatch(RECEIPT_PATTERN, receipt):
        err = Invalid("not a receipt number", errors=[{"field": "receipt", "message": "R-…"}])
        return _report_form(request, 422, error=error_of(err))
    return RedirectResponse(f"/public/report/{receipt}", status_code=303)


@router.get("/public/report/{receipt}")
def report_status(request: Request, receipt: str) -> HTMLResponse:
    """Received, flagged as a problem (and where its rectification stands), or dismissed with
    the reason."""
    state = app_state(request)
    try:
        if not re.fullmatch(RECEIPT_PATTERN, receipt):
            raise Invalid("not a receipt number", errors=[{"field": "receipt", "message": "R-…"}])
        with Session(state.engine) as s:
            status = receipt_status(s, receipt)
    except DomainError as exc:
        return page(request, "base.html", exc.status, principal=None, error=error_of(exc))
    fresh = request.query_params.get("new") == "1"
    return page(request, "public_receipt.html", principal=None, status=status, fresh=fresh)
