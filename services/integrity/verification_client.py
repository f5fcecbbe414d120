"""The only code that starts verifications of the audit trail (``audit-verification:{id}``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta

from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.clock import utcnow
from services.core.ids import keyed_id
from services.core.logging import get_logger
from services.core.settings import Settings
from services.integrity.contracts import (
    VERIFICATION_WORKFLOW,
    VerificationFailure,
    VerificationInput,
    verification_workflow_id,
)
from services.integrity.verifications import (
    AuditVerification,
    record_failed,
    record_requested,
    running_verification,
)

log = get_logger(__name__)


async def start_verification(client: Client, settings: Settings, inp: VerificationInput) -> None:
    """Start the run; starting it again (a request retried with its key) is a no-op, and one
    that ended is not run again."""
    with suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            VERIFICATION_WORKFLOW,
            inp,
            id=verification_workflow_id(inp.verification_id),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Audit trail verification asked by {inp.requested_by}",
        )


# A page waits this long at most for Temporal to say how a run stands.
ASK_TIMEOUT = timedelta(seconds=2)

# How a run's workflow can end without writing the run's outcome (it writes it before it
# completes, and records the activity's failures itself): said to every auditor who reads it.
_CUT_SHORT = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
    WorkflowExecutionStatus.FAILED: "failed",
}


async def _status(client: Client, verification_id: str) -> WorkflowExecutionStatus | None:
    """The run's workflow's status; None when Temporal no longer knows it (past retention)."""
    handle = client.get_workflow_handle(verification_workflow_id(verification_id))
    try:
        # The SDK retries an unreachable server on its own: bound the whole question.
        async with asyncio.timeout(ASK_TIMEOUT.total_seconds()):
            return (await handle.describe(rpc_timeout=ASK_TIMEOUT)).status
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def settle_cut_short(
    session: Session, client: Client | None, rows: Sequence[AuditVerification]
) -> None:
    """Record as failed, saying how, each run still marked running whose workflow ended
    without its verdict: terminated or cancelled by an operator, timed out, or gone from
    Temporal. Without this its row said ``running`` for good and its console page refreshed
    itself forever. Temporal is asked about running rows only (one, as a rule); while it
    cannot answer (or the API is not connected to it yet), they are left as they are, and the
    page still shows."""
    for row in rows:
        if row.state != "running" or client is None:
            continue
        run = VerificationInput(
            verification_id=row.id, requested_by=row.requested_by, requested_at=row.requested_at
        )
        session.commit()  # no connection held while Temporal answers
        try:
            status = await _status(client, run.verification_id)
        except (RPCError, TimeoutError) as exc:
            log.warning(
                "verification_status_unknown", verification_id=run.verification_id, error=repr(exc)
            )
            continue
        if status is None:
            how = "is no longer known to Temporal"
        elif status in _CUT_SHORT:
            how = f"was {_CUT_SHORT[status]} in Temporal"
        else:
            if status == WorkflowExecutionStatus.COMPLETED:
                session.refresh(row)  # it finished since the row was read: its outcome
            continue
        reason = f"ended before its verdict: its workflow {how}; ask for a new run"
        record_failed(session, VerificationFailure(run=run, reason=reason), utcnow())
        session.commit()
        session.refresh(row)


async def request_verification(
    session: Session,
    client: Client,
    settings: Settings,
    principal: Principal,
    idempotency_key: str | None,
) -> tuple[AuditVerification, bool]:
    """Start a verification (auditors, admins) and record that it runs; whether this started
    it. Not when a run goes on already: each takes a minute of a worker's interpreter at
    100,000 rectifications, so a second click (or a second auditor) gets that run. A retry with
    the same ``Idempotency-Key`` gets its own run, whatever came after. The workflow is started
    first: a row never names a run nobody started, and the run writes its row itself if this
    one is lost."""
    principal.require_role(Role.auditor, Role.admin)
    run_id = keyed_id("AV", principal.account_id, idempotency_key)
    asked = session.get(AuditVerification, run_id) if idempotency_key else None
    if asked is not None:
        return asked, False
    current = running_verification(session)
    session.commit()  # no connection held while Temporal answers
    if current is not None:
        await settle_cut_short(session, client, [current])
        if current.state == "running":
            return current, False
    inp = VerificationInput(
        verification_id=run_id, requested_by=principal.account_id, requested_at=utcnow()
    )
    await start_verification(client, settings, inp)
    row = record_requested(session, inp)
    session.commit()
    return row, True
