"""EvaluationWorkflow: one evaluation's phases and timers. Workflow id ``eval:{id}``.

open → (opens_on) rating → (rating_deadline, or the organizer closes it early) calibration →
(the organizer publishes) published → (every result applied: weak aspects flagged as problems,
poor grades on the heads' records) closed. Raters who have not voted are reminded 7, 3 and 1 days
before the deadline. Every phase change is an activity that writes the read model (and the
results, when rating closes) before the Update that asked for it answers.

Ballots are data, not steps: the API writes each one under the read model's phase and the
deadline instant (``services.evaluation.ballots``), so thousands of ballots never touch this
history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import groupby

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.core.clock import deadline_instant
    from services.core.errors import Conflict
    from services.core.failures import as_failure
    from services.evaluation.contracts import (
        CLOSE_RATING_ACTIVITY,
        CLOSE_RATING_UPDATE,
        CLOSED_PHASE_PATCH,
        DEBRIEFING_REMINDERS_PATCH,
        PUBLISH_ACTIVITY,
        PUBLISH_UPDATE,
        REMIND_DAYS_BEFORE,
        REMIND_DEBRIEFING_ACTIVITY,
        REMIND_RATERS_ACTIVITY,
        SET_PHASE_ACTIVITY,
        WORKFLOW,
        EvaluationPlan,
        OrganizerStep,
        Phase,
        PhaseChange,
        ReminderSlot,
    )

SYSTEM = "system:evaluation"
STEP_TIMEOUT = timedelta(minutes=10)  # computing every subject's result may take a while
# The phase steps heartbeat while they compute and apply: a worker lost mid-step is noticed
# within this, and the step retried on another, instead of after STEP_TIMEOUT.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name=WORKFLOW)
class EvaluationWorkflow:
    @workflow.init
    def __init__(self, plan: EvaluationPlan) -> None:
        self.plan = plan
        self.phase = Phase.open
        self.close_by: str | None = None
        self.publish_by: str | None = None

    @workflow.run
    async def run(self, plan: EvaluationPlan) -> str:
        tz = plan.timezone
        opens_at = deadline_instant(plan.opens_on - timedelta(days=1), tz)  # the day's start
        await self._until(opens_at)
        await self._change(Phase.rating, SYSTEM)
        deadline = deadline_instant(plan.rating_deadline, tz)
        if workflow.patched(DEBRIEFING_REMINDERS_PATCH):
            await self._remind(plan, deadline)
        else:  # as recorded before debriefing reminders existed
            for days in REMIND_DAYS_BEFORE:
                at = deadline - timedelta(days=days)
                if at > workflow.now() and not await self._until(at, self._closing):
                    await self._reminder(REMIND_RATERS_ACTIVITY, days, at)
        await self._until(deadline, lambda: self.close_by is not None)
        await self._change(Phase.calibration, self.close_by or SYSTEM, CLOSE_RATING_ACTIVITY)
        await workflow.wait_condition(lambda: self.publish_by is not None)
        assert self.publish_by is not None
        await self._change(Phase.published, self.publish_by, PUBLISH_ACTIVITY)
        if workflow.patched(CLOSED_PHASE_PATCH):
            # The publish step has applied every result (problems flagged, records made).
            await self._change(Phase.closed, SYSTEM)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.phase.value

    def _closing(self) -> bool:
        return self.close_by is not None

    async def _remind(self, plan: EvaluationPlan, deadline: datetime) -> None:
        """Raters who owe ballots and heads who owe their debriefing report, 7, 3 and 1 days
        before each deadline, in time order, until rating closes."""
        slots = [
            (deadline - timedelta(days=d), REMIND_RATERS_ACTIVITY, d) for d in REMIND_DAYS_BEFORE
        ]
        if plan.debriefing_due is not None:
            due = deadline_instant(plan.debriefing_due, plan.timezone)
            slots += [
                (due - timedelta(days=d), REMIND_DEBRIEFING_ACTIVITY, d) for d in REMIND_DAYS_BEFORE
            ]
        for at, due_then in groupby(sorted(slots), key=lambda slot: slot[0]):
            if at <= workflow.now():
                continue  # a slot already past when rating opened
            if await self._until(at, self._closing):
                return  # rating closed early: nobody owes anything any more
            for _, activity, before in due_then:  # everything due at this instant
                await self._reminder(activity, before, at)

    async def _reminder(self, activity: str, days: int, at: datetime) -> None:
        slot = ReminderSlot(evaluation_id=self.plan.evaluation_id, days_before=days, at=at)
        await workflow.execute_activity(
            activity, slot, start_to_close_timeout=STEP_TIMEOUT, retry_policy=retries.STEP
        )

    async def _until(self, at: datetime, stop: Callable[[], bool] | None = None) -> bool:
        """Sleep until ``at``; True if ``stop()`` came true first."""
        wait = (at - workflow.now()).total_seconds()
        if wait <= 0:
            return False
        try:
            await workflow.wait_condition(stop or (lambda: False), timeout=timedelta(seconds=wait))
        except TimeoutError:
            return False
        return True

    async def _change(self, phase: Phase, by: str, activity: str = SET_PHASE_ACTIVITY) -> None:
        change = PhaseChange(
            evaluation_id=self.plan.evaluation_id, phase=phase, by=by, at=workflow.now()
        )
        await workflow.execute_activity(
            activity,
            change,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=retries.STEP,
        )
        self.phase = phase

    @workflow.update(name=CLOSE_RATING_UPDATE)
    async def close_rating(self, step: OrganizerStep) -> str:
        """Close rating before the deadline (every ballot is in): calibration starts now."""
        self.close_by = step.account_id
        await workflow.wait_condition(lambda: self.phase is not Phase.rating)
        return self.phase.value

    @close_rating.validator
    def _may_close(self, step: OrganizerStep) -> None:
        with as_failure():
            if self.phase is not Phase.rating or self.close_by is not None:
                phase = self.phase.value
                raise Conflict(f"rating is not open (the evaluation is {phase})", state=phase)

    @workflow.update(name=PUBLISH_UPDATE)
    async def publish(self, step: OrganizerStep) -> str:
        """Publish the calibrated results: every scoped reader sees them; they never change."""
        self.publish_by = step.account_id
        await workflow.wait_condition(lambda: self.phase in (Phase.published, Phase.closed))
        return Phase.published.value

    @publish.validator
    def _may_publish(self, step: OrganizerStep) -> None:
        with as_failure():
            if self.phase is not Phase.calibration or self.publish_by is not None:
                phase = self.phase.value
                raise Conflict(
                    f"only results under calibration can be published (it is {phase})",
                    state=phase,
                )
