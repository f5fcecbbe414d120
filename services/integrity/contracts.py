"""Pure contracts of a verification of the audit trail run in the background: the workflow's
and activities' names, its id and its input (workflow code imports this module)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

VERIFICATION_WORKFLOW = "AuditVerificationWorkflow"
RUN_VERIFICATION_ACTIVITY = "run_audit_verification"
FAIL_VERIFICATION_ACTIVITY = "record_audit_verification_failed"


def verification_workflow_id(verification_id: str) -> str:
    return f"audit-verification:{verification_id}"


class VerificationInput(BaseModel):
    verification_id: str = Field(max_length=64)
    requested_by: str = Field(max_length=120)
    requested_at: datetime


class VerificationFailure(BaseModel):
    run: VerificationInput
    reason: str
