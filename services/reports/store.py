"""Filing a public report and reading its receipt: the two things the public may do, the same
from the API and from the console's public form."""

from __future__ import annotations

import hashlib
import secrets

from pydantic import BaseModel
from sqlmodel import Session

from services.core.errors import NotFound, TooLarge
from services.core.settings import Settings
from services.org.queries import get_org
from services.rectification.models import Problem
from services.reports.contracts import PublicReportIn
from services.reports.models import PublicReport

RECEIPT_PATTERN = r"^R-[0-9A-F]{12,24}$"


class ReceiptStatus(BaseModel):
    """What a receipt tells: received, flagged (and where that rectification stands), or
    dismissed with the reason — nothing about the text or anyone."""

    report_id: str
    status: str
    problem_state: str | None = None
    reason: str | None = None


def file_report(
    session: Session, settings: Settings, body: PublicReportIn, client: str
) -> PublicReport:
    """A new report (in the caller's transaction); the receipt is its id. The address is kept
    only as a hash."""
    if len(body.text) > settings.public_report_max_chars:
        raise TooLarge(
            f"text is longer than {settings.public_report_max_chars} characters", field="text"
        )
    org = get_org(session, body.org_id)
    report = PublicReport(
        id="R-" + secrets.token_hex(8).upper(),  # 64 random bits: a receipt cannot be guessed
        org_id=org.id,
        org_path=org.path,
        text=body.text,
        client_hash=hashlib.sha256(client.encode()).hexdigest(),
    )
    session.add(report)
    return report


def receipt_status(session: Session, receipt: str) -> ReceiptStatus:
    report = session.get(PublicReport, receipt.strip().upper())
    if report is None:
        raise NotFound(f"no report with receipt {receipt!r}", field="receipt")
    out = ReceiptStatus(report_id=report.id, status=report.status)
    if report.status == "flagged" and report.problem_id is not None:
        problem = session.get(Problem, report.problem_id)
        out.problem_state = problem.state if problem is not None else None
    elif report.status == "dismissed":
        out.reason = report.triage_reason
    return out
