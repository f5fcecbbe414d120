"""The deadlines of one org's year, inside its ``CycleOrgWorkflow``: signing, commitments, items.

Each is a ``DeadlineWatch`` under a key (``sign``, ``commitments``, ``items:{due}:{person}``);
their states travel with the workflow across continue-as-new. Workflow code: it arms timers.
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.core.clock import local_date
    from services.cycle.contracts import DECIDED_ITEM_STATES, CycleOrgState, ItemSnapshot
    from services.cycle.rules import answerable
    from services.deadlines.contracts import DeadlineState, DeadlineTarget
    from workflows.deadline_watch import DeadlineWatch

# A late letter (issued after sign_by, or changed after signing) still gets this long to sign.
GRACE_DAYS = 7


class OrgDeadlines:
    def __init__(self) -> None:
        self.watches: dict[str, DeadlineWatch] = {}

    def start_carried(self, carried: dict[str, DeadlineState]) -> None:
        """Run again the deadlines a continued-as-new run carried over."""
        for key, state in carried.items():
            self.watches[key] = DeadlineWatch(state)
            self.watches[key].start()

    def states(self) -> dict[str, DeadlineState]:
        return {key: watch.state for key, watch in self.watches.items()}

    def running(self, key: str) -> bool:
        watch = self.watches.get(key)
        return watch is not None and watch.running

    def stop(self, key: str) -> None:
        watch = self.watches.get(key)
        if watch is not None:
            watch.cancel()

    async def stop_all(self) -> None:
        for watch in self.watches.values():
            watch.cancel()
        for watch in self.watches.values():
            await watch.stopped()

    def _watch(self, key: str, state: DeadlineState) -> None:
        old = self.watches.get(key)
        if old is not None:
            old.cancel()
        self.watches[key] = DeadlineWatch(state)
        self.watches[key].start()

    @staticmethod
    def _target(
        st: CycleOrgState, entity_type: str, entity_id: str, title: str, what: str
    ) -> DeadlineTarget:
        return DeadlineTarget(
            entity_type=entity_type,
            entity_id=entity_id,
            org_id=st.letter.org_id,
            title=title,
            what=what,
        )

    @staticmethod
    def _grace_due(st: CycleOrgState, due: date) -> date:
        today = local_date(workflow.now(), st.timezone)
        return max(due, today + timedelta(days=GRACE_DAYS))

    def arm_signature(self, st: CycleOrgState) -> None:
        """Signing: due ``sign_by``, or a week from now for a late or changed letter."""
        letter = st.letter
        title = f"responsibility letter v{letter.version} of {letter.org_name}"
        self._watch(
            "sign",
            DeadlineState(
                target=self._target(st, "letter", letter.letter_id, title, "signature"),
                due=self._grace_due(st, st.calendar.sign_by),
                timezone=st.timezone,
                policy=st.policy,
                owner_person_id=letter.head_person_id,
            ),
        )

    def hand_over(self, st: CycleOrgState) -> None:
        """A new head: the signature's and commitments' remaining reminders go to them, the
        items they now answer for are regrouped, and a signed letter's acknowledgement is owed."""
        head = st.letter.head_person_id
        for key in ("sign", "commitments"):
            watch = self.watches.get(key)
            if watch is not None and watch.running and head is not None:
                watch.reschedule(owner_person_id=head)
        self.arm_items(st)
        if st.letter.handover_to is None:
            self.stop("handover")
            return
        letter = st.letter
        title = f"handover of the responsibility letter v{letter.version} of {letter.org_name}"
        self._watch(
            "handover",
            DeadlineState(
                target=self._target(
                    st, "handover", f"{letter.letter_id}:handover", title, "acknowledgement"
                ),
                due=self._grace_due(st, local_date(workflow.now(), st.timezone)),
                timezone=st.timezone,
                policy=st.policy,
                owner_person_id=letter.handover_to,
            ),
        )

    def arm_after_first_signature(self, st: CycleOrgState) -> None:
        letter = st.letter
        due = self._grace_due(st, st.calendar.commitments_by)
        if not st.commitments:
            title = f"commitments of {letter.org_name}"
            self._watch(
                "commitments",
                DeadlineState(
                    target=self._target(st, "commitments", letter.letter_id, title, "commitments"),
                    due=due,
                    timezone=st.timezone,
                    policy=st.policy,
                    owner_person_id=letter.head_person_id,
                ),
            )
        self.arm_items(st)

    def arm_items(self, st: CycleOrgState) -> None:
        """Reminders before the due date for the items still short of their target, one per
        (due date, person): "3 items due …" rather than three messages. None after the due
        date: a missed item becomes a problem, and the problem's rectification escalates."""
        letter = st.letter
        if not letter.ever_signed:
            return
        groups: dict[tuple[date, str | None], list[ItemSnapshot]] = {}
        for i in letter.items:
            if i.state not in DECIDED_ITEM_STATES and not i.reached():
                owner = answerable(letter, i)
                groups.setdefault((i.due, owner), []).append(i)
        wanted: set[str] = set()
        for (due, owner), items in groups.items():
            group = f"{due.isoformat()}:{owner or '-'}"
            key = f"items:{group}"
            wanted.add(key)
            self._arm_item_group(st, key, group, due, owner, items)
        for key, watch in self.watches.items():
            if key.startswith("items:") and key not in wanted:
                watch.cancel()

    def _arm_item_group(
        self,
        st: CycleOrgState,
        key: str,
        group: str,
        due: date,
        owner: str | None,
        items: list[ItemSnapshot],
    ) -> None:
        titles = "; ".join(i.title for i in items)
        title = titles if len(items) == 1 else f"{len(items)} items: {titles}"
        target = self._target(st, "items", f"{st.letter.letter_id}:{group}", title[:300], "items")
        watch = self.watches.get(key)
        if watch is not None:
            watch.state.target = target  # the next reminder lists what is still open
            watch.resume()
            return
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
