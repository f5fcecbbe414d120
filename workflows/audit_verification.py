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
from temporalio.exceptions import ActivityError

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
                retry_policy=RetryPolicy(maximum_attempts=ATTEMPTS),
            )
        except ActivityError as exc:
            cause = exc.cause if exc.cause is not None else exc
            await workflow.execute_activity(
                FAIL_VERIFICATION_ACTIVITY,
                VerificationFailure(run=inp, reason=str(cause)),
                task_queue=queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retries.STEP,  # the verdict must be written: until the DB is back
            )
