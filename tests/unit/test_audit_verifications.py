"""The record of a verification run in the background: written once whichever of the API and
the worker comes first, its outcome written once whatever the retries."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core.db import session_scope
from services.integrity.contracts import VerificationFailure, VerificationInput
from services.integrity.drift import IntegrityReport
from services.integrity.verification_client import settle_cut_short
from services.integrity.verifications import (
    AuditVerification,
    as_out,
    list_verifications,
    record_failed,
    record_requested,
    record_result,
    running_verification,
)
from tests.conftest import start_time_skipping

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _run(run_id: str) -> VerificationInput:
    return VerificationInput(verification_id=run_id, requested_by="acc-1", requested_at=AT)


def _report(ok: bool, checked: int) -> IntegrityReport:
    return IntegrityReport(ok=ok, events_checked=checked, drift=[], drift_truncated=False)


def test_the_worker_first_then_the_api_then_a_retry(engine: Engine) -> None:
    with session_scope(engine) as s:  # the API lost between the start and its row
        record_result(s, _run("r1"), _report(True, 7), AT)
    with session_scope(engine) as s:  # the API's row after all, then a retried activity
        assert record_requested(s, _run("r1")).state == "done"
        record_result(s, _run("r1"), _report(False, 9), AT)
        record_failed(s, VerificationFailure(run=_run("r1"), reason="late"), AT)
    with Session(engine) as s:
        row = s.get(AuditVerification, "r1")
        assert row is not None
        out = as_out(row, "/")
        assert (out.state, out.ok, out.events_checked, out.failure) == ("done", True, 7, None)
        assert out.report == _report(True, 7)


def test_a_run_that_gave_up_says_why_and_runs_list_newest_first(engine: Engine) -> None:
    with session_scope(engine) as s:
        record_requested(s, _run("old"))
        later = _run("new").model_copy(update={"requested_at": AT.replace(hour=10)})
        record_requested(s, later)
        record_failed(s, VerificationFailure(run=_run("old"), reason="database gone"), AT)
    with Session(engine) as s:
        rows, total = list_verifications(s, 0, 10)
        outs = [as_out(r, "/", with_report=False) for r in rows]
        assert (current := running_verification(s)) is not None and current.id == "new"
    assert total == 2 and [o.id for o in outs] == ["new", "old"]
    assert [(o.state, o.ok, o.failure) for o in outs] == [
        ("running", None, None),
        ("failed", None, "database gone"),
    ]


async def test_while_temporal_cannot_answer_a_running_run_is_left_running(
    engine: Engine,
) -> None:
    """The list and the run's page still show when Temporal is down or not connected yet: the
    run stays running (it may well be), rather than the page failing or the run being called
    cut short."""
    with session_scope(engine) as s:
        record_requested(s, _run("r4"))
    gone = await start_time_skipping()
    client = gone.client
    await gone.shutdown()  # the client stays, connected to a server no longer there
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(AuditVerification, "r4")
        assert row is not None
        for down in (client, None):
            await settle_cut_short(s, down, [row])
            assert row.state == "running" and row.failure is None
