"""Public supervision: anyone may report a problem about an org; a committee member triages it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select

from api.deps import PageDep, PrincipalDep, SessionDep, StateDep, TemporalDep
from api.limits import throttle_public_reports
from api.pagination import Page
from services.accounts.models import Role
from services.core.errors import Conflict, TooLarge, absent
from services.core.parsing import parsed
from services.org.queries import get_org, under_path
from services.rectification import client as rectification
from services.rectification.contracts import Category, ProblemIn, Severity, Source
from services.rectification.store import new_problem_id
from services.reports.contracts import PublicReportIn, TriageIn
from services.reports.models import PublicReport
from services.reports.store import RECEIPT_PATTERN, ReceiptStatus, file_report, receipt_status

public = APIRouter(prefix="/public/v1", tags=["public"])
router = APIRouter(prefix="/api/v1", tags=["reports"])

MAX_BODY_BYTES = 64 * 1024


class ReportReceipt(BaseModel):
    report_id: str
    status: str


class ReportOut(BaseModel):
    report_id: str
    org_id: str
    text: str
    status: str
    problem_id: str | None
    triage_reason: str | None
    created_at: datetime
    triaged_at: datetime | None


def _out(r: PublicReport) -> ReportOut:
    return ReportOut(
        report_id=r.id,
        org_id=r.org_id,
        text=r.text,
        status=r.status,
        problem_id=r.problem_id,
        triage_reason=r.triage_reason,
        created_at=r.created_at,
        triaged_at=r.triaged_at,
    )


@public.post("/reports", status_code=status.HTTP_201_CREATED)
async def post_report(request: Request, session: SessionDep, state: StateDep) -> ReportReceipt:
    """No login. Rate-limited per client address; the text is size-limited."""
    settings = state.settings
    client = throttle_public_reports(request, settings.public_report_rate_per_minute)
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"the request is larger than {MAX_BODY_BYTES} bytes")
    report = file_report(session, settings, parsed(PublicReportIn, raw, "report"), client)
    return ReportReceipt(report_id=report.id, status=report.status)


@public.get("/reports/{receipt}")
def report_status(
    receipt: Annotated[str, Path(pattern=RECEIPT_PATTERN)], session: SessionDep
) -> ReceiptStatus:
    """Where a report stands, by its receipt: received, flagged as a problem (and that
    problem's state), or dismissed with the reason."""
    return receipt_status(session, receipt)


@router.get("/reports")
def list_reports(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(new|flagged|dismissed)$")
    ] = None,
) -> Page[ReportOut]:
    principal.require_role(Role.committee, Role.admin, Role.auditor)
    cond = [under_path(PublicReport.org_path, principal.scope_path)]
    if status_:
        cond.append(col(PublicReport.status) == status_)
    total = session.exec(select(func.count()).select_from(PublicReport).where(*cond)).one()
    rows = session.exec(
        select(PublicReport)
        .where(*cond)
        .order_by(col(PublicReport.created_at).desc(), col(PublicReport.id))
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    return Page(
        items=[_out(r) for r in rows], total=total, page=page.page, page_size=page.page_size
    )


@router.post("/reports/{report_id}/triage")
async def triage(
    report_id: str,
    body: TriageIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
) -> ReportOut:
    """Turn a report into a problem (source: supervision) or dismiss it with a reason."""
    principal.require_role(Role.committee, Role.admin)
    report = session.get(PublicReport, report_id)
    if report is None:
        raise absent(f"report {report_id!r}", "report_id")
    principal.require_path(get_org(session, report.org_id).path, f"report {report_id!r}")
    if report.status != "new":
        raise Conflict(
            f"report {report_id!r} is already {report.status}; allowed now: none",
            state=report.status,
        )
    if body.action == "flag":
        assert body.category is not None and body.severity is not None
        problem = ProblemIn(
            org_id=report.org_id,
            source=Source.supervision,
            category=Category(body.category),
            severity=Severity(body.severity),
            title=body.title or report.text[:80],
            description=report.text,
            due=body.due,
        )
        # The id is derived from the report, so a retried triage finds the same problem.
        problem_id = new_problem_id("report", report.id)
        await rectification.open_problem(
            session, temporal, state.settings, problem, problem_id, principal.account_id
        )
        report.status, report.problem_id = "flagged", problem_id
    else:
        report.status, report.triage_reason = "dismissed", body.reason
    report.triaged_by, report.triaged_at = principal.account_id, datetime.now(UTC)
    session.add(report)
    return _out(report)
