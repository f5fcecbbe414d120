"""CycleOrgWorkflow: one org's year in the annual cycle, from its letter to the year's close.

Workflow id ``cycle:{cycle_id}:org:{org_id}``. It issues the org's letter (built from the plan),
waits for the head's signature and only then issues its direct children's letters — a page of at
most 500 per activity, each child a workflow of its own started by business key, so the cascade
goes level by level and no workflow ever has pending children. Human steps (sign, return, amend,
progress, commitments) are validated Updates that persist their change before returning. Item
decisions fall due at each item's due date, the year closes at ``closes_on``; deadlines (signing,
commitments, items) run in ``DeadlineWatch``es. Continues as new when the history grows long."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.core.clock import deadline_instant, local_date
    from services.core.failures import as_failure
    from services.cycle.contracts import (
        AMEND_UPDATE,
        COMMIT_UPDATE,
        DECIDE_UPDATE,
        DECIDED_ITEM_STATES,
        ISSUE_CHILDREN_ACTIVITY,
        ISSUE_LETTER_ACTIVITY,
        ISSUED_UPDATE,
        PERSIST_COMMITMENT_ACTIVITY,
        PERSIST_LETTER_ACTIVITY,
        PROGRESS_UPDATE,
        RECORD_LAUNCH_ACTIVITY,
        RETURN_UPDATE,
        SIGN_UPDATE,
        WORKFLOW,
        AmendRequest,
        ChildPage,
        ChildPageInput,
        CommitmentChange,
        CommitmentDecision,
        CommitmentRequest,
        CommitmentSnapshot,
        CommitmentState,
        CycleOrgInput,
        CycleOrgState,
        IssuedLetter,
        IssueLetterInput,
        ItemSnapshot,
        ItemState,
        LetterChange,
        LetterSnapshot,
        LetterState,
        ProgressRequest,
        ReturnRequest,
        SignRequest,
        content_hash,
        item_from_template,
    )
    from services.cycle.rules import (
        check_amend,
        check_commit,
        check_decision,
        check_progress,
        check_return,
        check_sign,
        open_state,
    )
    from services.deadlines.contracts import DeadlineState, DeadlineTarget
    from services.rectification.contracts import (
        FLAG_ACTIVITY,
        Category,
        FlagProblemInput,
        ProblemIn,
        Severity,
        Source,
        indicator_problem_id,
    )
    from workflows.deadline_watch import DeadlineWatch

# A late letter (issued after sign_by, or changed after signing) still gets this long to sign.
GRACE_DAYS = 7
T = TypeVar("T")
R = TypeVar("R")


@workflow.defn(name=WORKFLOW)
class CycleOrgWorkflow:
    @workflow.init
    def __init__(self, inp: CycleOrgInput) -> None:
        self.inp = inp
        self.st: CycleOrgState | None = inp.carried
        self.watches: dict[str, DeadlineWatch] = {}
        self.lock = asyncio.Lock()
        self.wake = False
        self.closed = False

    # --- run ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CycleOrgInput) -> dict[str, Any]:
        if self.st is None:
            if inp.launch is not None:
                await workflow.execute_activity(
                    RECORD_LAUNCH_ACTIVITY,
                    inp.launch,
                    result_type=bool,
                    start_to_close_timeout=timedelta(seconds=30),
                )
            issued: IssuedLetter = await workflow.execute_activity(
                ISSUE_LETTER_ACTIVITY,
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
            self._arm_signature()
        st = self.st
        for key, state in st.deadlines.items():
            self.watches[key] = DeadlineWatch(state)
            self.watches[key].start()
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
                for key, watch in self.watches.items():
                    st.deadlines[key] = watch.state
                workflow.continue_as_new(
                    CycleOrgInput(cycle_id=inp.cycle_id, org_id=inp.org_id, carried=st)
                )
        for watch in self.watches.values():
            watch.cancel()
        for watch in self.watches.values():
            await watch.stopped()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return st.letter.summary or {}

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

    def _today(self) -> date:
        return local_date(workflow.now(), self._state().timezone)

    # --- the cascade ----------------------------------------------------------------------

    async def _issue_children_page(self) -> None:
        st = self._state()
        page: ChildPage = await workflow.execute_activity(
            ISSUE_CHILDREN_ACTIVITY,
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

    # --- deadlines ------------------------------------------------------------------------

    def _watch(self, key: str, state: DeadlineState) -> None:
        old = self.watches.get(key)
        if old is not None:
            old.cancel()
        self.watches[key] = DeadlineWatch(state)
        self.watches[key].start()

    def _target(self, entity_type: str, entity_id: str, title: str, what: str) -> DeadlineTarget:
        st = self._state()
        return DeadlineTarget(
            entity_type=entity_type,
            entity_id=entity_id,
            org_id=st.letter.org_id,
            title=title,
            what=what,
        )

    def _arm_signature(self) -> None:
        """Signing: due ``sign_by``, or a week from now for a late or changed letter."""
        st = self._state()
        due = max(st.calendar.sign_by, self._today() + timedelta(days=GRACE_DAYS))
        letter = st.letter
        self._watch(
            "sign",
            DeadlineState(
                target=self._target(
                    "letter",
                    letter.letter_id,
                    f"responsibility letter v{letter.version} of {letter.org_name}",
                    "signature",
                ),
                due=due,
                timezone=st.timezone,
                policy=st.policy,
                owner_person_id=letter.head_person_id,
            ),
        )

    def _arm_after_first_signature(self) -> None:
        st = self._state()
        letter = st.letter
        due = max(st.calendar.commitments_by, self._today() + timedelta(days=GRACE_DAYS))
        if not st.commitments:
            self._watch(
                "commitments",
                DeadlineState(
                    target=self._target(
                        "commitments",
                        letter.letter_id,
                        f"commitments of {letter.org_name}",
                        "commitments",
                    ),
                    due=due,
                    timezone=st.timezone,
                    policy=st.policy,
                    owner_person_id=letter.head_person_id,
                ),
            )
        self._arm_items()

    def _arm_items(self) -> None:
        """Reminders before the due date for the items still short of their target, one per
        (due date, person): "3 items due …" rather than three messages. None after the due
        date: a missed item becomes a problem, and the problem's rectification escalates."""
        st = self._state()
        letter = st.letter
        if not letter.ever_signed:
            return
        groups: dict[tuple[date, str | None], list[ItemSnapshot]] = {}
        for i in letter.items:
            if i.state not in DECIDED_ITEM_STATES and not i.reached():
                owner = i.assignee_person_id or letter.head_person_id
                groups.setdefault((i.due, owner), []).append(i)
        wanted: set[str] = set()
        for (due, owner), items in groups.items():
            group = f"{due.isoformat()}:{owner or '-'}"
            key = f"items:{group}"
            wanted.add(key)
            titles = "; ".join(i.title for i in items)
            title = titles if len(items) == 1 else f"{len(items)} items: {titles}"
            target = self._target("items", f"{letter.letter_id}:{group}", title[:300], "items")
            watch = self.watches.get(key)
            if watch is not None:
                watch.state.target = target  # the next reminder lists what is still open
                watch.resume()
                continue
            self._watch(
                key,
                DeadlineState(
                    target=target,
                    due=due,
                    timezone=st.timezone,
                    policy=st.policy.model_copy(
                        update={"escalate_after_days": [], "accountability_at": {}}
                    ),
                    owner_person_id=owner,
                ),
            )
        for key, watch in self.watches.items():
            if key.startswith("items:") and key not in wanted:
                watch.cancel()

    def _stop(self, key: str) -> None:
        watch = self.watches.get(key)
        if watch is not None:
            watch.cancel()

    # --- persistence ----------------------------------------------------------------------

    async def _persist(
        self,
        new: LetterSnapshot,
        action: str,
        actor: str,
        payload: dict[str, Any] | None = None,
        item_ids: list[str] | None = None,
        notify: tuple[str, str, str] | None = None,
        retry: RetryPolicy = retries.PERSIST,
    ) -> None:
        """Write the change; a human step's write gives up after a while (the API answers 503
        and nothing changed), the workflow's own steps pass ``retries.STEP``."""
        st = self._state()
        await workflow.execute_activity(
            PERSIST_LETTER_ACTIVITY,
            LetterChange(
                key=f"letter:{new.letter_id}:e{st.events + 1}",
                snapshot=new,
                action=action,
                actor=actor,
                at=workflow.now(),
                payload=payload or {},
                item_ids=item_ids,
                notify=notify,
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=retry,
        )
        st.events += 1
        st.letter = new

    async def _persist_commitment(
        self,
        new: CommitmentSnapshot,
        action: str,
        actor: str,
        payload: dict[str, Any],
        notify: tuple[str, str, str] | None,
    ) -> None:
        await workflow.execute_activity(
            PERSIST_COMMITMENT_ACTIVITY,
            CommitmentChange(
                key=f"commitment:{new.commitment_id}:v{new.version}",
                snapshot=new,
                action=action,
                actor=actor,
                at=workflow.now(),
                payload=payload,
                notify=notify,
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=retries.PERSIST,
        )
        self._state().commitments[new.commitment_id] = new

    # --- item decisions and the year's close ----------------------------------------------

    def _decide(self, items: list[ItemSnapshot]) -> tuple[list[ItemSnapshot], list[str]]:
        """Achieved when the actual reaches the target by the due date, else missed."""
        now = workflow.now()
        decided: list[str] = []
        out: list[ItemSnapshot] = []
        for i in items:
            due_passed = deadline_instant(i.due, self._state().timezone) <= now
            if i.state not in DECIDED_ITEM_STATES and due_passed:
                state = ItemState.achieved if i.reached() else ItemState.missed
                out.append(i.model_copy(update={"state": state, "decided_at": now}))
                decided.append(i.id)
            else:
                out.append(i)
        return out, decided

    async def _decide_due_items(self) -> None:
        st = self._state()
        items, decided = self._decide(st.letter.items)
        if not decided:
            return
        new = st.letter.model_copy(update={"items": items})
        by_id = {i.id: i for i in items}
        await self._persist(
            new,
            "decide",
            "system:cycle",
            {
                "achieved": [x for x in decided if by_id[x].state is ItemState.achieved],
                "missed": [x for x in decided if by_id[x].state is ItemState.missed],
            },
            item_ids=decided,
            retry=retries.STEP,
        )
        self._arm_items()
        await self._flag_missed()

    async def _close_year(self) -> None:
        """Unreached items are missed; the summary is written; nothing more is owed."""
        st = self._state()
        now = workflow.now()
        items = [
            i
            if i.state in DECIDED_ITEM_STATES
            else i.model_copy(
                update={
                    "state": ItemState.achieved if i.reached() else ItemState.missed,
                    "decided_at": now,
                }
            )
            for i in st.letter.items
        ]
        counts: dict[str, int] = {}
        for i in items:
            counts[i.state.value] = counts.get(i.state.value, 0) + 1
        commitments: dict[str, int] = {}
        for c in st.commitments.values():
            commitments[c.state.value] = commitments.get(c.state.value, 0) + 1
        summary = {
            "letter_state": st.letter.state.value,
            "letter_version": st.letter.version,
            "signed_version": st.letter.signed_version,
            "items": counts,
            "commitments": commitments,
            "children_issued": st.children_issued,
            "closed_on": st.calendar.closes_on.isoformat(),
        }
        new = st.letter.model_copy(update={"items": items, "closed_at": now, "summary": summary})
        await self._persist(new, "close", "system:cycle", {"summary": summary}, retry=retries.STEP)
        self.closed = True
        await self._flag_missed()

    async def _flag_missed(self) -> None:
        """A missed item flags a problem (source indicator) once: deterministic id per item."""
        st = self._state()
        missed = [
            i for i in st.letter.items if i.state is ItemState.missed and i.id not in st.flagged
        ]
        if not missed:
            return
        wid = workflow.info().workflow_id

        async def flag(i: ItemSnapshot) -> None:
            try:
                await workflow.execute_activity(
                    FLAG_ACTIVITY,
                    FlagProblemInput(
                        problem_id=indicator_problem_id(i.id),
                        problem=ProblemIn(
                            org_id=st.letter.org_id,
                            source=Source.indicator,
                            category=Category(i.category.value),
                            severity=Severity.major,
                            title=f"Missed: {i.title}"[:300],
                            description=(
                                f"{i.indicator.metric}: {i.actual if i.actual is not None else 0:g}"
                                f" of {i.indicator.target:g} {i.indicator.unit} by "
                                f"{i.due.isoformat()} ({i.indicator.standard})."
                            ),
                            cycle_id=st.letter.cycle_id,
                            item_id=i.id,
                        ),
                        created_by=wid,
                        at=workflow.now(),
                        timezone=st.timezone,
                        policy=st.policy,
                    ),
                    start_to_close_timeout=timedelta(minutes=2),
                    retry_policy=retries.STEP,
                )
            except ActivityError as exc:
                # Refused for good (e.g. the org was removed): the year goes on; the item stays
                # missed in the read model and the refusal is in the workflow's history.
                workflow.logger.warning("missed item %s not flagged: %s", i.id, exc.cause)
            st.flagged.append(i.id)

        await asyncio.gather(*(flag(i) for i in missed))

    # --- reads ----------------------------------------------------------------------------

    @workflow.query
    def letter(self) -> LetterSnapshot | None:
        return self.st.letter if self.st else None

    @workflow.update(name=ISSUED_UPDATE)
    async def issued_view(self) -> LetterSnapshot:
        """Returns once the letter is in the read model (read-your-write on launch)."""
        await workflow.wait_condition(lambda: self.st is not None)
        return self._state().letter

    async def _issued(self) -> None:
        """A request can arrive between the letter's write and the workflow learning of it (the
        read model already shows it): wait for it rather than refuse."""
        await workflow.wait_condition(lambda: self.st is not None)

    # --- signing, returning, amending -----------------------------------------------------

    def _checked(self, rule: Callable[[CycleOrgState, R], T], req: R) -> T:
        """Run one of ``services.cycle.rules``; a refusal rejects the Update (409/403/422)."""
        with as_failure():
            return rule(open_state(self.st, self.closed), req)

    @workflow.update(name=SIGN_UPDATE)
    async def sign(self, req: SignRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            self._checked(check_sign, req)
            st = self._state()
            first = not st.letter.ever_signed
            new = st.letter.model_copy(
                update={
                    "state": LetterState.signed,
                    "signed_version": st.letter.version,
                    "signed_by": req.actor.person_id,
                    "signed_at": workflow.now(),
                    "return_reason": None,
                }
            )
            await self._persist(
                new, "sign", req.actor.account_id, {"signer": req.actor.person_id}, item_ids=[]
            )
            self._stop("sign")
            if first:
                self._arm_after_first_signature()
            self.wake = True
            return new

    @sign.validator
    def _validate_sign(self, req: SignRequest) -> None:
        if self.st is not None:  # else the handler waits for the letter, then checks
            self._checked(check_sign, req)

    @workflow.update(name=RETURN_UPDATE)
    async def return_letter(self, req: ReturnRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            self._checked(check_return, req)
            st = self._state()
            letter = st.letter
            new = letter.model_copy(
                update={"state": LetterState.returned, "return_reason": req.reason}
            )
            tell = None
            if letter.issuer_person_id is not None:
                tell = (
                    letter.issuer_person_id,
                    f"Letter returned for revision — {letter.org_name}",
                    f"The head of {letter.org_name} returned version {letter.version} of the "
                    f"responsibility letter: {req.reason}. Amend its items to reissue it.",
                )
            await self._persist(
                new, "return", req.actor.account_id, {"reason": req.reason}, [], tell
            )
            return new

    @return_letter.validator
    def _validate_return(self, req: ReturnRequest) -> None:
        if self.st is not None:  # else the handler waits for the letter, then checks
            self._checked(check_return, req)

    @workflow.update(name=AMEND_UPDATE)
    async def amend(self, req: AmendRequest) -> LetterSnapshot:
        """Add or change items: a new version, to be signed again (children stay as issued)."""
        await self._issued()
        async with self.lock:
            self._checked(check_amend, req)
            st = self._state()
            letter = st.letter
            items = list(letter.items)
            next_seq = max((i.seq for i in items), default=0) + 1
            touched: list[str] = []
            for ch in req.changes:
                fresh = item_from_template(
                    ch.template, letter.cycle_id, letter.org_id, next_seq, letter.head_person_id
                )
                if ch.id is None:
                    items.append(fresh)
                    touched.append(fresh.id)
                    next_seq += 1
                    continue
                idx = next(k for k, i in enumerate(items) if i.id == ch.id)
                old = items[idx]
                items[idx] = old.model_copy(
                    update={
                        "category": fresh.category,
                        "responsibility": fresh.responsibility,
                        "title": fresh.title,
                        "indicator": fresh.indicator,
                        "due": fresh.due,
                        "assignee_person_id": fresh.assignee_person_id,
                    }
                )
                touched.append(old.id)
            was_signed = letter.state is LetterState.signed
            new = letter.model_copy(
                update={
                    "items": items,
                    "version": letter.version + 1,
                    "content_hash": content_hash(
                        letter.cycle_id, letter.org_id, letter.org_name, items
                    ),
                    "state": LetterState.issued,
                    "return_reason": None,
                }
            )
            tell = None
            if letter.head_person_id is not None:
                tell = (
                    letter.head_person_id,
                    f"Responsibility letter v{new.version} to sign — {letter.org_name}",
                    f"Version {new.version} of your responsibility letter changes "
                    f"{len(touched)} item(s){': ' + req.reason if req.reason else ''}. "
                    "Read it and sign it again.",
                )
            await self._persist(
                new,
                "amend",
                req.actor.account_id,
                {"items": touched, "reason": req.reason, "was": letter.state.value},
                None,
                tell,
            )
            if was_signed or "sign" not in self.watches or not self.watches["sign"].running:
                self._arm_signature()
            self._arm_items()
            self.wake = True
            return new

    @amend.validator
    def _validate_amend(self, req: AmendRequest) -> None:
        if self.st is not None:  # else the handler waits for the letter, then checks
            self._checked(check_amend, req)

    # --- progress on items ----------------------------------------------------------------

    @workflow.update(name=PROGRESS_UPDATE)
    async def report_progress(self, req: ProgressRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            item = self._checked(check_progress, req)
            st = self._state()
            updated = item.model_copy(
                update={
                    "state": ItemState.in_progress,
                    "actual": req.actual,
                    "note": req.note,
                    "evidence": [
                        *item.evidence,
                        *(e for e in req.evidence if e not in item.evidence),
                    ],
                }
            )
            new = st.letter.model_copy(
                update={"items": [updated if i.id == item.id else i for i in st.letter.items]}
            )
            await self._persist(
                new,
                "progress",
                req.actor.account_id,
                {"item_id": item.id, "actual": req.actual, "evidence": req.evidence},
                item_ids=[item.id],
            )
            self._arm_items()  # reached the target: no more reminders for it
            return new

    @report_progress.validator
    def _validate_progress(self, req: ProgressRequest) -> None:
        if self.st is not None:  # else the handler waits for the letter, then checks
            self._checked(check_progress, req)

    # --- commitments ----------------------------------------------------------------------

    @workflow.update(name=COMMIT_UPDATE)
    async def submit_commitment(self, req: CommitmentRequest) -> CommitmentSnapshot:
        await self._issued()
        async with self.lock:
            existing = self._checked(check_commit, req)
            if existing is not None:
                return existing
            st = self._state()
            letter = st.letter
            assert req.actor.person_id is not None
            new = CommitmentSnapshot(
                commitment_id=req.commitment_id,
                cycle_id=letter.cycle_id,
                org_id=letter.org_id,
                org_path=letter.org_path,
                person_id=req.actor.person_id,
                text=req.text,
                item_ids=req.item_ids,
                state=CommitmentState.submitted,
                version=1,
                submitted_at=workflow.now(),
            )
            await self._persist_commitment(
                new,
                "submit",
                req.actor.account_id,
                {"items": req.item_ids},
                self._tell_issuer(f"Commitment to review — {letter.org_name}", req.text),
            )
            self._stop("commitments")  # the org has pledged: nothing more to remind
            return new

    @submit_commitment.validator
    def _validate_commit(self, req: CommitmentRequest) -> None:
        if self.st is not None:  # else the handler waits for the letter, then checks
            self._checked(check_commit, req)

    def _tell_issuer(self, subject: str, text: str) -> tuple[str, str, str] | None:
        issuer = self._state().letter.issuer_person_id
        return (issuer, subject, text) if issuer else None

    @workflow.update(name=DECIDE_UPDATE)
    async def decide_commitment(self, req: CommitmentDecision) -> CommitmentSnapshot:
        await self._issued()
        async with self.lock:
            c = self._checked(check_decision, req)
            now = workflow.now()
            upd: dict[str, Any] = {"version": c.version + 1}
            tell: tuple[str, str, str] | None
            if req.decision == "approve":
                upd.update(
                    state=CommitmentState.approved, decided_at=now, decided_by=req.actor.account_id
                )
                tell = (c.person_id, "Commitment approved and published", c.text)
            elif req.decision == "return":
                upd.update(
                    state=CommitmentState.returned,
                    decided_at=now,
                    decided_by=req.actor.account_id,
                    return_reason=req.reason,
                )
                tell = (c.person_id, "Commitment returned for revision", req.reason)
            else:
                upd.update(
                    state=CommitmentState.submitted,
                    submitted_at=now,
                    return_reason=None,
                    decided_at=None,
                    decided_by=None,
                )
                if req.text is not None:
                    upd["text"] = req.text
                if req.item_ids is not None:
                    upd["item_ids"] = req.item_ids
                tell = self._tell_issuer("Commitment resubmitted", req.text or c.text)
            new = c.model_copy(update=upd)
            await self._persist_commitment(
                new,
                req.decision,
                req.actor.account_id,
                {"reason": req.reason} if req.reason else {},
                tell,
            )
            return new

    @decide_commitment.validator
    def _validate_decision(self, req: CommitmentDecision) -> None:
        if self.st is not None:  # else the handler waits for the letter, then checks
            self._checked(check_decision, req)
