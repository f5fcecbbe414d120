"""CycleOrgWorkflow: one org's year in the annual cycle, from its letter to the year's close.

Workflow id ``cycle:{cycle_id}:org:{org_id}``. It issues the org's letter (built from the plan),
waits for the head's signature and only then issues its direct children's letters — a page of at
most 500 per activity, each child a workflow of its own started by business key, so the cascade
goes level by level and no workflow ever has pending children. Human steps (sign, return, amend,
progress, commitments) are validated Updates that persist their change before returning. Item
decisions fall due at each item's due date, the year closes at ``closes_on``; deadlines (signing,
commitments, items) run in ``DeadlineWatch``es. Continues as new when the history grows long.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cycles import issue_letter, persist_commitment, persist_letter, record_launch
    from activities.deadlines import DeadlineTarget
    from activities.problems import FlagProblemInput, flag_problem, indicator_problem_id
    from services.cycle_models import (
        DECIDED_ITEM_STATES,
        Actor,
        AmendRequest,
        ChildPage,
        ChildPageInput,
        CommitmentChange,
        CommitmentDecision,
        CommitmentRequest,
        CommitmentSnapshot,
        CommitmentState,
        CycleRecord,
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
    from services.cycle_plan import Calendar
    from services.deadlines import ReminderPolicy, deadline_instant, local_date
    from services.problems import Category, ProblemIn, Severity, Source
    from workflows.deadline_watch import DeadlineState, DeadlineWatch

ILLEGAL = "IllegalTransition"
FORBIDDEN = "Forbidden"
INVALID = "Invalid"
PERSIST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=12,
)
# The workflow's own steps (issuing, deciding, closing) must not fail the org's year because the
# database was away for a while: retry them until it is back.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=5),
)
# A late letter (issued after sign_by, or changed after signing) still gets this long to sign.
GRACE_DAYS = 7


class CycleOrgState(BaseModel):
    """Everything the workflow carries across continue-as-new."""

    letter: LetterSnapshot
    calendar: Calendar
    timezone: str
    policy: ReminderPolicy
    events: int  # letter events persisted so far: the next key is e{events + 1}
    commitments: dict[str, CommitmentSnapshot] = Field(default_factory=dict)
    cascade_after: str | None = None
    cascade_done: bool = False
    children_issued: int = 0
    deadlines: dict[str, DeadlineState] = Field(default_factory=dict)
    flagged: list[str] = Field(default_factory=list)


class CycleOrgInput(BaseModel):
    cycle_id: str
    org_id: str
    launch: CycleRecord | None = None  # the root only: record the cycle first
    carried: CycleOrgState | None = None


def _illegal(message: str, state: str) -> ApplicationError:
    return ApplicationError(message, {"state": state}, type=ILLEGAL)


def _forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, type=FORBIDDEN)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, {"field": field}, type=INVALID)


@workflow.defn
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
                    record_launch, inp.launch, start_to_close_timeout=timedelta(seconds=30)
                )
            issued = await workflow.execute_activity(
                issue_letter,
                IssueLetterInput(cycle_id=inp.cycle_id, org_id=inp.org_id, at=workflow.now()),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=STEP_RETRY,
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
            "issue_child_letters",
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
        retry: RetryPolicy = PERSIST_RETRY,
    ) -> None:
        """Write the change; a human step's write gives up after a while (the API answers 503
        and nothing changed), the workflow's own steps pass ``STEP_RETRY``."""
        st = self._state()
        await workflow.execute_activity(
            persist_letter,
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
            persist_commitment,
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
            retry_policy=PERSIST_RETRY,
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
            retry=STEP_RETRY,
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
        await self._persist(new, "close", "system:cycle", {"summary": summary}, retry=STEP_RETRY)
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
                    flag_problem,
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
                    retry_policy=STEP_RETRY,
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

    @workflow.update
    async def issued_view(self) -> LetterSnapshot:
        """Returns once the letter is in the read model (read-your-write on launch)."""
        await workflow.wait_condition(lambda: self.st is not None)
        return self._state().letter

    async def _issued(self) -> None:
        """A request can arrive between the letter's write and the workflow learning of it (the
        read model already shows it): wait for it rather than refuse."""
        await workflow.wait_condition(lambda: self.st is not None)

    # --- signing, returning, amending -----------------------------------------------------

    def _open(self) -> CycleOrgState:
        if self.st is None:
            raise _illegal("the letter is still being issued; retry", "issuing")
        if self.closed:
            raise _illegal("the cycle's year has closed for this org", "closed")
        return self.st

    def _require_head(self, actor: Actor, doing: str) -> None:
        letter = self._state().letter
        if actor.person_id is None or actor.person_id != letter.head_person_id:
            raise _forbidden(
                f"only the head of {letter.org_name} ({letter.head_person_id or 'none set'}) "
                f"may {doing}"
            )

    def _require_issuer(self, actor: Actor, doing: str) -> None:
        letter = self._state().letter
        if letter.issuer_person_id is None:
            if not actor.root_committee:
                raise _forbidden(f"only the committee of the cycle's root may {doing}")
        elif actor.person_id != letter.issuer_person_id:
            raise _forbidden(
                f"only the head of the parent org ({letter.issuer_person_id}) may {doing}"
            )

    def _check_sign(self, req: SignRequest) -> None:
        st = self._open()
        letter = st.letter
        self._require_head(req.actor, "sign its letter")
        if letter.state is LetterState.signed:
            raise _illegal(
                f"version {letter.version} is already signed (by {letter.signed_by}); "
                "a second signature is not allowed",
                letter.state.value,
            )
        if letter.state is LetterState.returned:
            raise _illegal(
                f"version {letter.version} was returned for revision; wait for the reissued letter",
                letter.state.value,
            )
        if req.content_hash != letter.content_hash:
            raise _illegal(
                f"content_hash does not match version {letter.version} of the letter "
                f"(expected {letter.content_hash}); read the current letter and sign what you "
                "read",
                letter.state.value,
            )

    @workflow.update
    async def sign(self, req: SignRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            self._check_sign(req)
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
            self._check_sign(req)

    def _check_return(self, req: ReturnRequest) -> None:
        st = self._open()
        self._require_head(req.actor, "return its letter")
        if st.letter.state is not LetterState.issued:
            raise _illegal(
                f"only an issued letter can be returned; version {st.letter.version} is "
                f"{st.letter.state.value}",
                st.letter.state.value,
            )

    @workflow.update
    async def return_letter(self, req: ReturnRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            self._check_return(req)
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
            self._check_return(req)

    def _check_amend(self, req: AmendRequest) -> None:
        st = self._open()
        self._require_issuer(req.actor, "amend this letter")
        if not req.changes:
            raise _invalid("changes", "name at least one item to add or change")
        seen: set[str] = set()
        for n, ch in enumerate(req.changes):
            if ch.template.due > st.calendar.closes_on:
                raise _invalid(
                    f"changes.{n}.template.due",
                    f"{ch.template.due} is after the cycle closes ({st.calendar.closes_on})",
                )
            if ch.id is None:
                continue
            item = st.letter.item(ch.id)
            if item is None:
                raise _invalid(f"changes.{n}.id", f"no item {ch.id!r} in this letter")
            if ch.id in seen:
                raise _invalid(f"changes.{n}.id", f"item {ch.id!r} is changed twice")
            seen.add(ch.id)
            if item.state in DECIDED_ITEM_STATES:
                raise _illegal(
                    f"item {ch.id!r} is already {item.state.value}; it cannot change",
                    item.state.value,
                )

    @workflow.update
    async def amend(self, req: AmendRequest) -> LetterSnapshot:
        """Add or change items: a new version, to be signed again (children stay as issued)."""
        await self._issued()
        async with self.lock:
            self._check_amend(req)
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
            self._check_amend(req)

    # --- progress on items ----------------------------------------------------------------

    def _check_progress(self, req: ProgressRequest) -> ItemSnapshot:
        st = self._open()
        item = st.letter.item(req.item_id)
        if item is None:
            raise _invalid("item_id", f"no item {req.item_id!r} in this letter")
        if item.assignee_person_id is None:
            if not (req.actor.org_member or req.actor.person_id == st.letter.head_person_id):
                raise _forbidden(
                    f"item {item.id!r} is collective: members of {st.letter.org_name} report on it"
                )
        elif req.actor.person_id != item.assignee_person_id:
            raise _forbidden(
                f"only the assignee ({item.assignee_person_id}) reports on {item.id!r}"
            )
        if not st.letter.ever_signed:
            raise _illegal(
                "the letter is not signed yet: its items are not in force", st.letter.state.value
            )
        if item.state in DECIDED_ITEM_STATES:
            raise _illegal(
                f"item {item.id!r} was decided ({item.state.value}) at its due date",
                item.state.value,
            )
        return item

    @workflow.update
    async def report_progress(self, req: ProgressRequest) -> LetterSnapshot:
        await self._issued()
        async with self.lock:
            item = self._check_progress(req)
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
            self._check_progress(req)

    # --- commitments ----------------------------------------------------------------------

    def _check_commit(self, req: CommitmentRequest) -> CommitmentSnapshot | None:
        """None for a new pledge; the existing one for a retried request."""
        st = self._open()
        if not (req.actor.org_member or req.actor.person_id == st.letter.head_person_id):
            raise _forbidden(f"only members of {st.letter.org_name} pledge on its items")
        if not st.letter.ever_signed:
            raise _illegal(
                "commitments follow the signature: the letter is not signed yet",
                st.letter.state.value,
            )
        existing = st.commitments.get(req.commitment_id)
        if existing is not None:
            if existing.person_id == req.actor.person_id and existing.text == req.text:
                return existing
            raise _illegal(f"commitment {req.commitment_id!r} exists", existing.state.value)
        for n, item_id in enumerate(req.item_ids):
            if st.letter.item(item_id) is None:
                raise _invalid(f"item_ids.{n}", f"no item {item_id!r} in this letter")
        return None

    @workflow.update
    async def submit_commitment(self, req: CommitmentRequest) -> CommitmentSnapshot:
        await self._issued()
        async with self.lock:
            existing = self._check_commit(req)
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
            self._check_commit(req)

    def _tell_issuer(self, subject: str, text: str) -> tuple[str, str, str] | None:
        issuer = self._state().letter.issuer_person_id
        return (issuer, subject, text) if issuer else None

    def _check_decision(self, req: CommitmentDecision) -> CommitmentSnapshot:
        st = self._open()
        c = st.commitments.get(req.commitment_id)
        if c is None:
            raise _invalid("commitment_id", f"no commitment {req.commitment_id!r} here")
        if req.decision in ("approve", "return"):
            self._require_issuer(req.actor, f"{req.decision} a commitment")
            if c.state is not CommitmentState.submitted:
                raise _illegal(
                    f"commitment {c.commitment_id!r} is {c.state.value}; only a submitted one "
                    f"can be {'approved' if req.decision == 'approve' else 'returned'}",
                    c.state.value,
                )
        elif req.decision == "resubmit":
            if req.actor.person_id != c.person_id:
                raise _forbidden(f"only {c.person_id} may resubmit this commitment")
            if c.state is not CommitmentState.returned:
                raise _illegal(
                    f"commitment {c.commitment_id!r} is {c.state.value}; only a returned one "
                    "can be resubmitted",
                    c.state.value,
                )
            for n, item_id in enumerate(req.item_ids or []):
                if st.letter.item(item_id) is None:
                    raise _invalid(f"item_ids.{n}", f"no item {item_id!r} in this letter")
        else:
            raise _invalid("decision", f"unknown decision {req.decision!r}")
        return c

    @workflow.update
    async def decide_commitment(self, req: CommitmentDecision) -> CommitmentSnapshot:
        await self._issued()
        async with self.lock:
            c = self._check_decision(req)
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
            self._check_decision(req)
