"""Activities of the annual cycle: record the launch, issue a letter, persist each change, start
a page of children's workflows, and launch a year for the annual Schedule.

Each write is one transaction keyed by the workflow (letter id + event number, commitment id +
version), so a retried activity or a replayed workflow writes nothing twice. Messages to people
(a returned letter, a commitment to approve) carry the same key as their dedupe key. Starting a
child is idempotent (one already started is found), so a retried page never issues a letter twice.
"""

from __future__ import annotations

import structlog
from pydantic import ValidationError
from sqlmodel import Session
from temporalio import activity

from activities.deps import ActivityDeps, write_activity
from services.core.db import session_scope
from services.core.errors import Invalid, NotFound
from services.core.failures import permanent
from services.cycle.annual import LaunchInput, LaunchResult
from services.cycle.client import CycleAlreadyLaunched, start_org_workflows, start_root
from services.cycle.contracts import (
    ISSUE_CHILDREN_ACTIVITY,
    ISSUE_LETTER_ACTIVITY,
    LAUNCH_ACTIVITY,
    PERSIST_COMMITMENT_ACTIVITY,
    PERSIST_LETTER_ACTIVITY,
    READ_PARTIES_ACTIVITY,
    RECORD_LAUNCH_ACTIVITY,
    ChildPage,
    ChildPageInput,
    CommitmentChange,
    CurrentParties,
    CycleRecord,
    IssuedLetter,
    IssueLetterInput,
    LetterChange,
    OrgRef,
    Tell,
    cycle_id_for,
)
from services.cycle.issuing import issue_letter
from services.cycle.store import (
    CycleIn,
    checked_plan,
    child_org_ids,
    current_parties,
    persist_commitment_change,
    persist_letter_change,
    record_cycle,
)
from services.evaluation.defaults import plan_rubric_errors
from services.notify.links import letter_link
from services.notify.models import NotificationIn
from services.notify.store import notify

log = structlog.get_logger(__name__)


class CycleActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    def _notify(self, spec: NotificationIn, session: Session | None = None) -> None:
        """Record and deliver ``spec``; in ``session``'s transaction when given, so the write it
        tells of and the notice commit together (one transaction fewer on the single writer)."""
        if session is not None:
            notify(session, spec, self.deps.settings)
            return
        with session_scope(self.deps.engine) as own:
            notify(own, spec, self.deps.settings)

    def _tell(
        self,
        key: str,
        org_path: str,
        entity: tuple[str, str],
        link: str,
        msg: Tell,
        session: Session | None = None,
    ) -> None:
        person, subject, body, *chinese = msg
        subject_zh, body_zh = chinese if chinese else (subject, body)
        self._notify(
            NotificationIn(
                dedupe_key=key,
                recipient_person_id=person,
                kind="cycle",
                subject=subject,
                body=body,
                subject_zh=subject_zh,
                body_zh=body_zh,
                entity_type=entity[0],
                entity_id=entity[1],
                link=link,
                org_path=org_path,
            ),
            session,
        )

    @activity.defn(name=RECORD_LAUNCH_ACTIVITY)
    def record_launch(self, rec: CycleRecord) -> bool:
        with session_scope(self.deps.engine) as session:
            return record_cycle(session, rec)

    @activity.defn(name=ISSUE_LETTER_ACTIVITY)
    def issue_letter(self, inp: IssueLetterInput) -> IssuedLetter:
        """Version 1 of the org's letter, from the cycle's plan; a retry returns what was stored."""
        with session_scope(self.deps.engine) as session:
            issued, notice = issue_letter(session, inp)
            if notice is not None:
                self._notify(notice, session)
        return issued

    @write_activity(PERSIST_LETTER_ACTIVITY)
    def persist_letter(self, ch: LetterChange) -> bool:
        with session_scope(self.deps.engine) as session:
            created = persist_letter_change(session, ch)
            if ch.notify is not None:
                s = ch.snapshot
                link = letter_link(s.cycle_id, s.org_id)
                self._tell(ch.key, s.org_path, ("letter", s.letter_id), link, ch.notify, session)
        return created

    @write_activity(PERSIST_COMMITMENT_ACTIVITY)
    def persist_commitment(self, ch: CommitmentChange) -> bool:
        with session_scope(self.deps.engine) as session:
            created = persist_commitment_change(session, ch)
        if ch.notify is not None:
            s = ch.snapshot
            link = letter_link(s.cycle_id, s.org_id)
            self._tell(ch.key, s.org_path, ("commitment", s.commitment_id), link, ch.notify)
        return created

    @activity.defn(name=READ_PARTIES_ACTIVITY)
    def read_letter_parties(self, ref: OrgRef) -> CurrentParties:
        """Who signs and who issues the org's letter now, as the org tree says."""
        with session_scope(self.deps.engine) as session:
            return current_parties(session, ref.cycle_id, ref.org_id)

    @activity.defn(name=ISSUE_CHILDREN_ACTIVITY)
    async def issue_child_letters(self, inp: ChildPageInput) -> ChildPage:
        """Start one page (≤ 500) of an org's direct children's workflows."""
        d = self.deps
        with session_scope(d.engine) as session:
            children = child_org_ids(session, inp.org_id, inp.after, inp.limit)
        started = await start_org_workflows(
            d.temporal(), d.settings, inp.cycle_id, children, on_each=activity.heartbeat
        )
        log.info("child_letters_issued", org_id=inp.org_id, page=len(children), started=started)
        return ChildPage(
            started=started,
            last=children[-1] if children else inp.after,
            done=len(children) < inp.limit,
        )

    @activity.defn(name=LAUNCH_ACTIVITY)
    async def launch_cycle(self, inp: LaunchInput) -> LaunchResult:
        """What ``POST /api/v1/cycles`` does, for the annual schedule; idempotent per root and
        year. It does not wait for the root's letter: that letter's activities may need the
        very slot this one holds (one activity thread, or two schedules firing at once)."""
        d = self.deps
        try:
            body = CycleIn(
                root_org_id=inp.root_org_id, year=inp.year, title=inp.title, plan=inp.plan
            )
            with session_scope(d.engine) as session:
                _, plan = checked_plan(session, body)
            if errors := plan_rubric_errors(plan):
                raise Invalid("the plan's rubric is not valid", errors=errors)
        except (NotFound, Invalid, ValidationError) as exc:
            # The tree changed under the plan: retrying will not mend it; the failure is
            # visible on the scheduled workflow.
            raise permanent(exc) from exc
        record = CycleRecord(
            cycle_id=cycle_id_for(inp.root_org_id, inp.year),
            root_org_id=inp.root_org_id,
            year=inp.year,
            title=inp.title,
            plan=plan,
            launched_by=inp.launched_by,
            launched_at=inp.at,
        )
        try:
            await start_root(d.temporal(), d.settings, record)
        except CycleAlreadyLaunched:
            return LaunchResult(cycle_id=record.cycle_id, launched=False)
        log.info("cycle_launched", cycle_id=record.cycle_id, by=inp.launched_by)
        return LaunchResult(cycle_id=record.cycle_id, launched=True)
