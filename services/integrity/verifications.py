"""Verifications of the audit trail run in the background (``AuditVerificationWorkflow``): who
asked and when, and the report once it is done.

A whole verification reads every event and every row the chain describes: about 40 s of one
core at 100,000 rectifications. Asked for in a request it held the API's interpreter (and the
auditor's browser) that long; run by a worker it holds neither, and each run's verdict stays on
record: when the trail was last verified, by whom asked, with what result.

The API starts the workflow, then writes the row; the workflow's activity writes the row too if
it is missing (the API lost in between), so neither order loses a run. The report is stored
whole; ``as_out`` gives a reader scoped to a subtree the verdict and counts only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Text, update
from sqlalchemy.orm import defer
from sqlmodel import Field, Session, SQLModel, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from services.core.db import insert_once
from services.core.errors import absent
from services.integrity.contracts import VerificationFailure, VerificationInput
from services.integrity.drift import IntegrityReport, for_reader

VerificationState = Literal["running", "done", "failed"]


class AuditVerification(SQLModel, table=True):
    __tablename__ = "audit_verifications"

    id: str = Field(primary_key=True, max_length=64)
    requested_by: str = Field(max_length=120)
    requested_at: datetime = Field(index=True)
    state: str = Field(max_length=10)  # VerificationState
    finished_at: datetime | None = None
    ok: bool | None = None
    events_checked: int | None = None
    failure: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    report: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )


class VerificationOut(BaseModel):
    id: str
    requested_by: str
    requested_at: datetime
    state: VerificationState
    finished_at: datetime | None = None
    ok: bool | None = None  # None while running, or when the run failed
    events_checked: int | None = None
    failure: str | None = None  # why the run gave up (the trail's own verdict is ``ok``)
    report: IntegrityReport | None = None  # once done; listed runs leave it out


def _summaries() -> SelectOfScalar[AuditVerification]:
    """Runs without their reports (up to 1,000 drift entries each), for lists and lookups."""
    return select(AuditVerification).options(
        defer(AuditVerification.report)  # type: ignore[arg-type]  # a column
    )


def running_verification(session: Session) -> AuditVerification | None:
    """The newest run still marked running (its workflow may have ended without a word, if
    it was terminated: ``verification_client`` asks Temporal)."""
    return session.exec(
        _summaries()
        .where(col(AuditVerification.state) == "running")
        .order_by(col(AuditVerification.requested_at).desc())
        .limit(1)
    ).first()


def _running(inp: VerificationInput) -> AuditVerification:
    return AuditVerification(
        id=inp.verification_id,
        requested_by=inp.requested_by,
        requested_at=inp.requested_at,
        state="running",
    )


def record_requested(session: Session, inp: VerificationInput) -> AuditVerification:
    """The run's row (the one already written, when the workflow or a retry was first)."""
    row, _ = insert_once(session, _running(inp), "id")
    return row


def _finish(session: Session, inp: VerificationInput, **values: Any) -> None:
    """Write a running run's outcome once: a retried activity finds it finished already."""
    insert_once(session, _running(inp), "id")
    session.execute(
        update(AuditVerification)
        .where(col(AuditVerification.id) == inp.verification_id)
        .where(col(AuditVerification.state) == "running")
        .values(**values)
    )


def record_result(
    session: Session, inp: VerificationInput, report: IntegrityReport, at: datetime
) -> None:
    _finish(
        session,
        inp,
        state="done",
        finished_at=at,
        ok=report.ok,
        events_checked=report.events_checked,
        report=report.model_dump(mode="json"),
    )


def record_failed(session: Session, failure: VerificationFailure, at: datetime) -> None:
    _finish(session, failure.run, state="failed", finished_at=at, failure=failure.reason)


def as_out(row: AuditVerification, scope_path: str, with_report: bool = True) -> VerificationOut:
    report = None
    if with_report and row.report is not None:
        report = for_reader(IntegrityReport.model_validate(row.report), scope_path)
    return VerificationOut(
        id=row.id,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        state=row.state,  # type: ignore[arg-type]  # written only as a VerificationState
        finished_at=row.finished_at,
        ok=row.ok,
        events_checked=row.events_checked,
        failure=row.failure,
        report=report,
    )


def get_verification(session: Session, verification_id: str) -> AuditVerification:
    row = session.get(AuditVerification, verification_id)
    if row is None:
        raise absent("verification", field="verification_id")
    return row


def list_verifications(
    session: Session, offset: int, limit: int
) -> tuple[list[AuditVerification], int]:
    """Newest first."""
    rows = session.exec(
        _summaries()
        .order_by(col(AuditVerification.requested_at).desc(), col(AuditVerification.id))
        .offset(offset)
        .limit(limit)
    ).all()
    total = session.exec(select(func.count()).select_from(AuditVerification)).one()
    return list(rows), int(total)
