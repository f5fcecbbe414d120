"""RectificationWorkflow: one problem's rectification, from flagging to the re-check.

Workflow id ``rect:{problem_id}``. Every human step is the ``act`` Update: its validator refuses
an illegal action at once (the API answers 409 with the allowed actions), the handler applies it
under a lock — re-checking, because two updates can both pass validation before the first one
has persisted — awaits the activity that writes the row and the audit event, and returns the new
snapshot. The due date's reminders and escalations run in a ``DeadlineWatch``; the re-check after
closure is a timer here. Continues as new when the history grows long."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.core.clock import deadline_instant
    from services.core.errors import Conflict
    from services.core.failures import as_failure
    from services.deadlines.contracts import DeadlineState, DeadlineTarget
    from services.rectification.contracts import (
        ACT_UPDATE,
        CREATED_UPDATE,
        PERSIST_ACTIVITY,
        RECHECK_ACTIVITY,
        WORKFLOW,
        ActionRequest,
        ProblemSnapshot,
        RecheckRequest,
        RectInput,
        Transition,
    )
    from services.rectification.rules import (
        WORKING_STATES,
        Action,
        Flags,
        RectState,
        allowed_actions,
        check_action,
    )
    from services.rectification.transitions import Clock, apply_action
    from workflows.deadline_watch import DeadlineWatch
    from workflows.queues import write_persons_step
    from workflows.search import keep_current


@workflow.defn(name=WORKFLOW)
class RectificationWorkflow:
    @workflow.init
    def __init__(self, inp: RectInput) -> None:
        self.inp = inp
        self.s = inp.snapshot
        self.created = inp.snapshot.version > 0
        self.finished = False
        self.wake = False
        self.recheck_requested = inp.recheck_requested
        self.lock = asyncio.Lock()
        self.deadline: DeadlineWatch | None = None

    # --- run ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: RectInput) -> ProblemSnapshot:
        if not self.created:
            await self._persist(
                self.s.model_copy(update={"version": 1}), "flag", self.s.created_by, {}
            )
            self.created = True
        if self.s.due is not None:
            state = self.inp.deadline or DeadlineState(
                target=DeadlineTarget(
                    entity_type="problem",
                    entity_id=self.s.problem_id,
                    org_id=self.s.org_id,
                    title=self.s.title,
                    what="rectification",
                ),
                due=self.s.due,
                timezone=self.inp.timezone,
                policy=self.inp.policy,
                owner_person_id=self.s.owner_person_id,
                cancelled=self.s.state not in WORKING_STATES | {RectState.identified},
            )
            self.deadline = DeadlineWatch(state)
            self.deadline.on_escalation = lambda level: self._searchable(self.s.state.value, level)
            self.deadline.start()
        self.finished = self._is_finished()
        while not self.finished:
            try:
                await workflow.wait_condition(
                    lambda: self.finished or self.wake or self._continue_as_new_wanted(),
                    timeout=self._recheck_timeout(),
                )
            except TimeoutError:
                await self._request_recheck()
            self.wake = False
            if self._continue_as_new_wanted():
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() and not self.lock.locked()
                )
                workflow.continue_as_new(
                    RectInput(
                        snapshot=self.s,
                        timezone=self.inp.timezone,
                        policy=self.inp.policy,
                        recheck_days=self.inp.recheck_days,
                        deadline=self.deadline.state if self.deadline else None,
                        recheck_requested=self.recheck_requested,
                        search_attributes=self.inp.search_attributes,
                    )
                )
        if self.deadline is not None:
            self.deadline.cancel()
            await self.deadline.stopped()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.s

    def _is_finished(self) -> bool:
        s = self.s
        return s.state is RectState.dismissed or (
            s.state is RectState.closed and not s.recheck_open
        )

    def _continue_as_new_wanted(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    def _recheck_timeout(self) -> timedelta | None:
        s = self.s
        if s.state is not RectState.closed or not s.recheck_open or self.recheck_requested:
            return None
        assert s.recheck_due is not None
        at = deadline_instant(s.recheck_due, self.inp.timezone) - timedelta(days=1)
        return max(at - workflow.now(), timedelta(0)) or timedelta(milliseconds=1)

    async def _request_recheck(self) -> None:
        s = self.s
        assert s.recheck_due is not None
        await workflow.execute_activity(
            RECHECK_ACTIVITY,
            RecheckRequest(
                problem_id=s.problem_id,
                title=s.title,
                org_path=s.org_path,
                verifier_person_id=s.verifier_person_id,
                recheck_due=s.recheck_due,
                fired_at=workflow.now(),
            ),
            start_to_close_timeout=timedelta(minutes=2),
        )
        self.recheck_requested = True

    # --- reads ----------------------------------------------------------------------------

    @workflow.query
    def snapshot(self) -> ProblemSnapshot:
        return self.s

    @workflow.update(name=CREATED_UPDATE)
    async def created_view(self) -> ProblemSnapshot:
        """Returns once the flagged problem is in the read model (read-your-write on create)."""
        await workflow.wait_condition(lambda: self.created)
        return self.s

    # --- the human steps ------------------------------------------------------------------

    @workflow.update(name=ACT_UPDATE)
    async def act(self, req: ActionRequest) -> ProblemSnapshot:
        if not self.created:  # accepted while the flag's write was pending: wait for it
            await workflow.wait_condition(lambda: self.created)
        async with self.lock:
            self._check(req)  # again: the state may have moved since validation
            clock = Clock(
                now=workflow.now(), timezone=self.inp.timezone, recheck_days=self.inp.recheck_days
            )
            new, payload = apply_action(self.s, req, clock)
            await self._persist(new, req.action.value, req.actor, payload)
            self._after(req.action, new)
            return self.s

    @act.validator
    def _validate(self, req: ActionRequest) -> None:
        # While an earlier step is being written its state is not adopted yet, but the read
        # model may already show it (the write landed; its activity's completion did not, say
        # the server died). Judging now would refuse a step that follows it correctly: the
        # handler judges under the lock, once the earlier step is in.
        # Likewise while the flag itself is being written (the API answered 201 from the read
        # model): the handler waits for it.
        if self.created and not self.lock.locked():
            self._check(req)

    def _check(self, req: ActionRequest) -> None:
        s = self.s
        with as_failure():
            if not self.created:
                raise Conflict(
                    "the problem is still being recorded; retry",
                    state=s.state.value,
                    allowed_actions=[a.value for a in allowed_actions(s.state, Flags())],
                )
            check_action(
                req.action,
                s.state,
                Flags(extension_pending=s.extension_pending, recheck_open=s.recheck_open),
                s.owner_person_id,
                req.actor_person_id,
                req.actor_role,
            )

    def _after(self, action: Action, new: ProblemSnapshot) -> None:
        """Adopt the persisted snapshot and steer the deadline: reminders only for owed work."""
        old = self.s
        # overdue_level=0 is a one-shot reset (new due date); later writes leave the level alone.
        self.s = new.model_copy(update={"overdue_level": None})
        self.recheck_requested = self.recheck_requested and new.state is RectState.closed
        dl = self.deadline
        if dl is not None:
            if new.due is not None and new.due != old.due:
                dl.reschedule(due=new.due)
            if new.owner_person_id != old.owner_person_id and new.owner_person_id is not None:
                dl.reschedule(owner_person_id=new.owner_person_id)
            if new.state in WORKING_STATES:
                dl.resume()
            else:
                dl.cancel()
        self.finished = self._is_finished()
        self.wake = True

    async def _persist(
        self, new: ProblemSnapshot, action: str, actor: str, payload: dict[str, Any]
    ) -> None:
        # Every step of a rectification is a person's (the flag included).
        await write_persons_step(
            PERSIST_ACTIVITY,
            Transition(
                snapshot=new, action=action, actor=actor, at=workflow.now(), payload=payload
            ),
        )
        if action == "flag":
            self.s = new.model_copy(update={"overdue_level": None})
        self._searchable(new.state.value)

    def _searchable(self, state: str, level: int | None = None) -> None:
        """The search attributes: org, cycle, state, overdue level (after each step and each
        escalation)."""
        if level is None:
            level = self.deadline.state.overdue_level if self.deadline is not None else 0
        s = self.s
        keep_current(
            self.inp.search_attributes,
            org_id=s.org_id,
            cycle_id=s.cycle_id,
            state=state,
            overdue_level=level,
        )
