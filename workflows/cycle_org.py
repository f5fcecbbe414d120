"""CycleOrgWorkflow: one org's year in the annual cycle, from its letter to the year's close.

Workflow id ``cycle:{cycle_id}:org:{org_id}``. It issues the org's letter (built from the plan),
waits for the head's signature and only then issues its direct children's letters — a page of at
most 500 per activity, each child a workflow of its own started by business key, so the cascade
goes level by level and no workflow ever has pending children. Human steps (sign, return, amend,
progress, commitments) are validated Updates: the rules are ``services.cycle.rules``, what a step
changes is ``services.cycle.transitions``, and each step is persisted before the Update returns.
Items are decided at their due dates, the year closes at ``closes_on``; deadlines are
``OrgDeadlines``; a new head takes the letter over (``services.cycle.handover``). Continues as
new when the history grows long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.core.clock import deadline_instant
    from services.core.failures import as_failure
    from services.cycle import contracts as names
    from services.cycle import handover, transitions
    from services.cycle.contracts import (
        DECIDED_ITEM_STATES,
        AmendRequest,
        ChildPage,
        ChildPageInput,
        CommitmentDecision,
        CommitmentRequest,
        CommitmentSnapshot,
        ConfirmRequest,
        CycleOrgInput,
        CycleOrgState,
        IssuedLetter,
        IssueLetterInput,
        LetterSnapshot,
        LetterState,
        ProgressRequest,
        ReturnRequest,
        SignRequest,
    )
    from services.cycle.rules import (
        check_acknowledge,
        check_amend,
        check_commit,
        check_confirm,
        check_decision,
        check_progress,
        check_return,
        check_sign,
        open_state,
    )
    from workflows.letter_writes import read_parties, write_commitment, write_letter
    from workflows.missed_items import flag_missed
    from workflows.org_deadlines import OrgDeadlines
    from workflows.queues import told_queue
    from workflows.search import keep_current

T = TypeVar("T")
R = TypeVar("R")


@workflow.defn(name=names.WORKFLOW)
class CycleOrgWorkflow:
    @workflow.init
    def __init__(self, inp: CycleOrgInput) -> None:
        self.inp = inp
        self.st: CycleOrgState | None = inp.carried
        self.deadlines = OrgDeadlines()
        self.lock = asyncio.Lock()
        self.wake = False
        self.closed = False

    @workflow.run
    async def run(self, inp: CycleOrgInput) -> dict[str, Any]:
        if self.st is None:
            await self._issue_letter(inp)
        st = self._state()
        self.deadlines.start_carried(st.deadlines)
        while True:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.wake or self._cascade_wanted() or self._can_wanted(),
                    timeout=self._until_next_decision(),
                )
            self.wake = False
            if self._cascade_wanted():
                await self._issue_children_page()
                continue
            if workflow.now() >= self._closes_at():
                async with self.lock:
                    await self._close_year()
                break
            async with self.lock:
                await self._decide_due_items()
            if self._can_wanted():
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() and not self.lock.locked()
                )
                st.deadlines.update(self.deadlines.states())
                workflow.continue_as_new(inp.model_copy(update={"launch": None, "carried": st}))
        await self.deadlines.stop_all()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return st.letter.summary or {}

    async def _issue_letter(self, inp: CycleOrgInput) -> None:
        """The root records the cycle first; every org then issues its letter (version 1)."""
        if inp.launch is not None:
            await workflow.execute_activity(
                names.RECORD_LAUNCH_ACTIVITY,
                inp.launch,
                result_type=bool,
                start_to_close_timeout=timedelta(seconds=30),
            )
        issued: IssuedLetter = await workflow.execute_activity(
            names.ISSUE_LETTER_ACTIVITY,
            IssueLetterInput(cycle_id=inp.cycle_id, org_id=inp.org_id, at=workflow.now()),
            result_type=IssuedLetter,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=retries.STEP,
        )
        self.st = CycleOrgState(
            letter=issued.snapshot,
            calendar=issued.calendar,
            timezone=issued.timezone,
            policy=issued.policy,
            events=1,
        )
        self.deadlines.arm_signature(self.st)
        self._searchable()

    def _state(self) -> CycleOrgState:
        assert self.st is not None
        return self.st

    def _can_wanted(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    def _cascade_wanted(self) -> bool:
        st = self.st
        return st is not None and st.letter.ever_signed and not st.cascade_done and not self.closed

    def _closes_at(self) -> datetime:
        st = self._state()
        return deadline_instant(st.calendar.closes_on, st.timezone)

    def _until_next_decision(self) -> timedelta:
        st = self._state()
        pending = [
            deadline_instant(i.due, st.timezone)
            for i in st.letter.items
            if i.state not in DECIDED_ITEM_STATES
        ]
        at = min([*pending, self._closes_at()])
        return max(at - workflow.now(), timedelta(milliseconds=1))

    # --- the cascade ----------------------------------------------------------------------

    async def _issue_children_page(self) -> None:
        st = self._state()
        page: ChildPage = await workflow.execute_activity(
            names.ISSUE_CHILDREN_ACTIVITY,
            ChildPageInput(
                cycle_id=st.letter.cycle_id, org_id=st.letter.org_id, after=st.cascade_after
            ),
            result_type=ChildPage,
            start_to_close_timeout=timedelta(minutes=10),
            # Every child started heartbeats: a lost worker's page is retried within seconds.
            heartbeat_timeout=timedelta(seconds=15),
        )
        st.children_issued += page.started
        st.cascade_after = page.last
        st.cascade_done = page.done

    # --- persistence ----------------------------------------------------------------------

    async def _persist(
        self,
        step: transitions.LetterStep,
        actor: str,
        retry: RetryPolicy = retries.PERSIST,
        task_queue: str | None = None,
    ) -> LetterSnapshot:
        new = await write_letter(self._state(), step, actor, retry, task_queue)
        self._searchable()
        return new

    def _searchable(self) -> None:  # workflows/search.py
        letter = self._state().letter
        on = self.inp.search_attributes
        keep_current(on, org_id=letter.org_id, cycle_id=letter.cycle_id, state=letter.state.value)

    # --- item decisions and the year's close ----------------------------------------------

    async def _decide_due_items(self) -> None:
        st = self._state()
        step = transitions.due_items_decided(st.letter, st.timezone, workflow.now())
        if step is None:
            return
        await self._persist(step, transitions.SYSTEM, retry=retries.STEP)
        self.deadlines.arm_items(st)
        await flag_missed(self._state())

    async def _close_year(self) -> None:
        """Unreached items are missed; the summary is written; nothing more is owed."""
        step = transitions.year_closed(self._state(), workflow.now())
        await self._persist(step, transitions.SYSTEM, retry=retries.STEP)
        self.closed = True
        await flag_missed(self._state())

    # --- reads ----------------------------------------------------------------------------

    @workflow.query
    def letter(self) -> LetterSnapshot | None:
        return self.st.letter if self.st else None

    @workflow.update(name=names.ISSUED_UPDATE)
    async def issued_view(self) -> LetterSnapshot:
        """Returns once the letter is in the read model (read-your-write on launch)."""
        await self._issued()
        return self._state().letter

    async def _issued(self) -> None:
        """A request can come before the workflow learns of its letter's write: wait for it."""
        await workflow.wait_condition(lambda: self.st is not None)

    def _checked(self, rule: Callable[[CycleOrgState, R], T], req: R) -> T:
        """Run one of ``services.cycle.rules``; a refusal rejects the Update (409/403/422)."""
        with as_failure():
            return rule(open_state(self.st, self.closed), req)

    def _validate(self, rule: Callable[[CycleOrgState, R], Any], req: R) -> None:
        # No letter yet, or a step being written: the handler checks under the lock instead.
        if self.st is not None and not self.lock.locked():
            self._checked(rule, req)

    # --- signing, returning, amending -----------------------------------------------------

    @workflow.update(name=names.SIGN_UPDATE)
    async def sign(self, req: SignRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            self._checked(check_sign, req)
            st = self._state()
            first = not st.letter.ever_signed
            step = transitions.signed(st.letter, req.actor.person_id, workflow.now())
            new = await self._persist(step, req.actor.account_id)
            self.deadlines.stop("sign")
            self.deadlines.stop("handover")
            if first:
                self.deadlines.arm_after_first_signature(st)
            self.wake = True
            return new

    @sign.validator
    def _validate_sign(self, req: SignRequest) -> None:
        self._validate(check_sign, req)

    @workflow.update(name=names.RETURN_UPDATE)
    async def return_letter(self, req: ReturnRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            self._checked(check_return, req)
            step = transitions.returned(self._state().letter, req.reason)
            return await self._persist(step, req.actor.account_id)

    @return_letter.validator
    def _validate_return(self, req: ReturnRequest) -> None:
        self._validate(check_return, req)

    @workflow.update(name=names.AMEND_UPDATE)
    async def amend(self, req: AmendRequest) -> LetterSnapshot:
        """Add or change items: a new version, to be signed again (children stay as issued)."""
        await self._issued()
        async with self.lock:
            self._checked(check_amend, req)
            st = self._state()
            was_signed = st.letter.state is LetterState.signed
            # Direct items go to the person they name from this patch on (the head before).
            step = transitions.amended(st.letter, req, workflow.patched("direct-in-charge"))
            new = await self._persist(step, req.actor.account_id)
            if was_signed or not self.deadlines.running("sign"):
                self.deadlines.arm_signature(st)
            self.deadlines.stop("handover")  # the new version is signed, not acknowledged
            self.deadlines.arm_items(st)
            self.wake = True
            return new

    @amend.validator
    def _validate_amend(self, req: AmendRequest) -> None:
        self._validate(check_amend, req)

    # --- a head changes mid-year (services.changes tells the org's running letters) -----------

    @workflow.update(name=names.PARTIES_UPDATE)
    async def parties_changed(self) -> LetterSnapshot:
        """The org's head or its parent's changed: read who they are now, hand the letter over."""
        await self._issued()
        async with self.lock:
            st = self._state()
            if self.closed:
                return st.letter
            queue = told_queue()
            step = handover.parties_changed(st.letter, await read_parties(st, queue))
            if step is not None:
                await self._persist(step, transitions.SYSTEM, retries.STEP, queue)
                self.deadlines.hand_over(st)
            return st.letter

    @workflow.update(name=names.ACKNOWLEDGE_UPDATE)
    async def acknowledge(self, req: SignRequest) -> LetterSnapshot:
        """A new head acknowledges the letter the former head signed (the same content hash)."""
        await self._issued()
        async with self.lock:
            self._checked(check_acknowledge, req)
            st = self._state()
            step = handover.acknowledged(st.letter, req.actor.person_id, workflow.now())
            new = await self._persist(step, req.actor.account_id)
            self.deadlines.stop("handover")
            return new

    @acknowledge.validator
    def _validate_acknowledge(self, req: SignRequest) -> None:
        self._validate(check_acknowledge, req)

    # --- progress on items ----------------------------------------------------------------

    @workflow.update(name=names.PROGRESS_UPDATE)
    async def report_progress(self, req: ProgressRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            item = self._checked(check_progress, req)
            st = self._state()
            new = await self._persist(
                transitions.progressed(st.letter, item, req), req.actor.account_id
            )
            self.deadlines.arm_items(st)  # reached the target: no more reminders for it
            return new

    @report_progress.validator
    def _validate_progress(self, req: ProgressRequest) -> None:
        self._validate(check_progress, req)

    @workflow.update(name=names.CONFIRM_UPDATE)
    async def confirm_achievement(self, req: ConfirmRequest) -> LetterSnapshot:
        """The issuer confirms or rejects an achievement (a repeated decision changes nothing)."""
        await self._issued()
        async with self.lock:
            item = self._checked(check_confirm, req)
            st = self._state()
            if item is None:
                return st.letter
            step = transitions.confirmed(st.letter, item, req, workflow.now())
            return await self._persist(step, req.actor.account_id)

    @confirm_achievement.validator
    def _validate_confirm(self, req: ConfirmRequest) -> None:
        self._validate(check_confirm, req)

    # --- commitments ----------------------------------------------------------------------

    @workflow.update(name=names.COMMIT_UPDATE)
    async def submit_commitment(self, req: CommitmentRequest) -> CommitmentSnapshot:
        await self._issued()
        async with self.lock:
            existing = self._checked(check_commit, req)
            if existing is not None:
                return existing
            step = transitions.submitted(self._state().letter, req, workflow.now())
            new = await write_commitment(self._state(), step, req.actor.account_id)
            self.deadlines.stop("commitments")  # the org has pledged: nothing more to remind
            return new

    @submit_commitment.validator
    def _validate_commit(self, req: CommitmentRequest) -> None:
        self._validate(check_commit, req)

    @workflow.update(name=names.DECIDE_UPDATE)
    async def decide_commitment(self, req: CommitmentDecision) -> CommitmentSnapshot:
        await self._issued()
        async with self.lock:
            c = self._checked(check_decision, req)
            step = transitions.decided(self._state().letter, c, req, workflow.now())
            return await write_commitment(self._state(), step, req.actor.account_id)

    @decide_commitment.validator
    def _validate_decision(self, req: CommitmentDecision) -> None:
        self._validate(check_decision, req)
