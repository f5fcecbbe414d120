"""The only code that starts verifications of the audit trail (``audit-verification:{id}``)."""

from __future__ import annotations

from contextlib import suppress

from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.clock import utcnow
from services.core.settings import Settings
from services.integrity.contracts import (
    VERIFICATION_WORKFLOW,
    VerificationInput,
    verification_workflow_id,
)
from services.integrity.verifications import (
    AuditVerification,
    record_requested,
    verification_id,
)


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


async def request_verification(
    session: Session,
    client: Client,
    settings: Settings,
    principal: Principal,
    idempotency_key: str | None,
) -> AuditVerification:
    """Start a verification (auditors, admins) and record that it runs. The workflow first: a
    row never names a run nobody started; the run writes its row itself if this one is lost."""
    principal.require_role(Role.auditor, Role.admin)
    inp = VerificationInput(
        verification_id=verification_id(principal.account_id, idempotency_key),
        requested_by=principal.account_id,
        requested_at=utcnow(),
    )
    session.commit()  # no connection held while Temporal answers
    await start_verification(client, settings, inp)
    row = record_requested(session, inp)
    session.commit()
    return row
