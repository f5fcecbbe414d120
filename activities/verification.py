"""The activities of a verification of the audit trail run in the background: the verification
itself and the record of a run that gave up.

The verification's reads run on one thread of their own, which every run shares: runs asked for
at once (the API answers a second request with the run going on, but two workers' views of it
can differ) take their turns instead of splitting the worker's interpreter between them, and
no thread of the activity pool or of the event loop's default pool (the worker's loops, its
health check) is held for the minute a run takes. The coroutine heartbeats meanwhile."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session
from temporalio import activity

from activities.deps import ActivityDeps, heartbeating
from services.core.clock import utcnow
from services.core.db import session_scope
from services.integrity.contracts import (
    FAIL_VERIFICATION_ACTIVITY,
    RUN_VERIFICATION_ACTIVITY,
    VerificationFailure,
    VerificationInput,
)
from services.integrity.drift import integrity_report
from services.integrity.keys import trusted_keys
from services.integrity.verifications import record_failed, record_result

# Seconds; well inside the workflow's heartbeat timeout (60 s).
HEARTBEAT_EVERY = 10.0


class VerificationActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="audit-verification")

    @activity.defn(name=RUN_VERIFICATION_ACTIVITY)
    async def run_audit_verification(self, inp: VerificationInput) -> bool:
        """Verify and write the report; True when the trail is whole."""
        loop = asyncio.get_running_loop()
        return await heartbeating(
            loop.run_in_executor(self._reads, self._verify, inp), HEARTBEAT_EVERY
        )

    def _verify(self, inp: VerificationInput) -> bool:
        with Session(self.deps.engine) as session:
            report = integrity_report(session, trusted_keys(self.deps.settings))
        with session_scope(self.deps.engine) as session:
            record_result(session, inp, report, utcnow())
        return report.ok

    @activity.defn(name=FAIL_VERIFICATION_ACTIVITY)
    async def record_audit_verification_failed(self, failure: VerificationFailure) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._reads, self._record_failed, failure)

    def _record_failed(self, failure: VerificationFailure) -> None:
        with session_scope(self.deps.engine) as session:
            record_failed(session, failure, utcnow())
