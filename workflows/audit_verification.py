"""AuditVerificationWorkflow: one verification of the audit trail, run by a worker.

The verification itself is one long activity (the chain, the checkpoints, the read model's
drift), heartbeating while it reads; a worker lost mid-way leaves its attempt to time out on the
heartbeat and another worker starts it again from the beginning (it only reads until it writes
the report). It runs on the ``-waits`` twin, whose slots hold no thread of the activities' pool:
a verification never takes a thread the cascade's writes need.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.core.queues import waits_queue_of
    from services.integrity.contracts import (
        FAIL_VERIFICATION_ACTIVITY,
        RUN_VERIFICATION_ACTIVITY,
        VERIFICATION_WORKFLOW,
        VerificationFailure,
        VerificationInput,
    )

# Generous: 100,000 rectifications take about 40 s on one core; the heartbeat finds a lost worker.
RUN_TIMEOUT = timedelta(hours=2)
HEARTBEAT_TIMEOUT = timedelta(seconds=60)
ATTEMPTS = 3


def gave_up(exc: ActivityError) -> str:
    """Why a run gave up, for every auditor to read: the kind of failure, never its message
    (a database error's text can name hosts, users and SQL); the worker's log has it all."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type:
        kind = cause.type
    else:
        kind = type(cause if cause is not None else exc).__name__
    return f"gave up after {ATTEMPTS} attempts ({kind}); the worker's log has the details"


@workflow.defn(name=VERIFICATION_WORKFLOW)
class AuditVerificationWorkflow:
    @workflow.run
    async def run(self, inp: VerificationInput) -> None:
        queue = waits_queue_of(workflow.info().task_queue)
        try:
            await workflow.execute_activity(
                RUN_VERIFICATION_ACTIVITY,
                inp,
                task_queue=queue,
                start_to_close_timeout=RUN_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=10), maximum_attempts=ATTEMPTS
                ),
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise  # the workflow itself was cancelled: nothing to record
            workflow.logger.warning("audit verification gave up", exc_info=exc)
            await workflow.execute_activity(
                FAIL_VERIFICATION_ACTIVITY,
                VerificationFailure(run=inp, reason=gave_up(exc)),
                task_queue=queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retries.STEP,  # the verdict must be written: until the DB is back
            )
