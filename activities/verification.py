"""The activities of a verification of the audit trail run in the background: the verification
itself (in a thread of its own, the coroutine heartbeating meanwhile) and the record of a run
that gave up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import Session
from temporalio import activity

from activities.deps import ActivityDeps
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

# Well inside the workflow's heartbeat timeout.
HEARTBEAT_EVERY = timedelta(seconds=10)


class VerificationActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=RUN_VERIFICATION_ACTIVITY)
    async def run_audit_verification(self, inp: VerificationInput) -> bool:
        """Verify and write the report; True when the trail is whole. The reads run in a thread:
        the worker's event loop goes on answering people's Updates and heartbeating."""
        verifying = asyncio.ensure_future(asyncio.to_thread(self._verify, inp))
        while True:
            done, _ = await asyncio.wait({verifying}, timeout=HEARTBEAT_EVERY.total_seconds())
            if done:
                return verifying.result()
            activity.heartbeat()

    def _verify(self, inp: VerificationInput) -> bool:
        with Session(self.deps.engine) as session:
            report = integrity_report(session, trusted_keys(self.deps.settings))
        with session_scope(self.deps.engine) as session:
            record_result(session, inp, report, utcnow())
        return report.ok

    @activity.defn(name=FAIL_VERIFICATION_ACTIVITY)
    async def record_audit_verification_failed(self, failure: VerificationFailure) -> None:
        await asyncio.to_thread(self._record_failed, failure)

    def _record_failed(self, failure: VerificationFailure) -> None:
        with session_scope(self.deps.engine) as session:
            record_failed(session, failure, utcnow())
